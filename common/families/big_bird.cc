// BigBird: block-sparse attention approximated by a sliding window plus global tokens.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

// Each query block sees 3 sliding, `random` random and 2 global blocks of `block` tokens; the reader stores them
// as a window of (3 + random) blocks and 2 blocks of global tokens, which is how they are recovered here.
std::string Approximation(const ModelConfig& c) {
  if (c.attention_window == 0) return "";  // attention_type original_full: built faithfully
  const int block = c.global_tokens / 2, random = block > 0 ? c.attention_window / block - 3 : 0;
  const std::string b = std::to_string(block), r = std::to_string(random), g = std::to_string(c.global_tokens);
  const std::string keys = std::to_string(int64_t{c.attention_window} + c.global_tokens);
  const std::string full = std::to_string((5 + 2 * int64_t{random}) * block);  // HF's switch to full attention
  return "BigBird's block-sparse attention (block " + b + ": 3 sliding + " + r +
         " random + 2 global blocks per query block) is approximated by a " + std::to_string(c.attention_window) +
         "-token sliding window (3 sliding + " + r + " random blocks' worth of keys) plus " + g +
         " global tokens (the first and last global blocks taken as the first " + g + " tokens): about the same " +
         keys + " keys per query, without the random block placement. HF uses full attention at <= " + full +
         " tokens.";
}

// HF's defaults: block_sparse attention with block_size 64 and 3 random blocks.
void BigBirdLayout(ModelArchitecture* a) {
  EncoderLayout(a);
  a->attention_window = (3 + 3) * 64;
  a->global_tokens = 2 * 64;
}
void BigBird(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu_new", 4096, 0, c);
  const bool qkv_bias = r.Bool("use_bias", true);  // BigBird's use_bias covers only query, key and value
  LinearBiases(c, qkv_bias, true, true);
  c->scale_embedding = r.Bool("rescale_embeddings", false);
  const std::string type = r.String("attention_type", "block_sparse");
  if (type == "original_full") {
    c->attention_window = c->global_tokens = 0;
    return;
  }
  if (type != "block_sparse") return r.Fail("attention_type", "expected block_sparse or original_full");
  const int block = r.Int("block_size", 64), random = r.Int("num_random_blocks", 3);
  if (r.ok() && block < 1) return r.Fail("block_size", "must be at least 1");
  c->attention_window = r.Derived("num_random_blocks", (3 + int64_t{random}) * block);
  c->global_tokens = r.Derived("block_size", 2 * int64_t{block});
}

}  // namespace

const FamilySpec kBigBird{"big_bird", BigBirdLayout, BigBird, nullptr, Approximation};
}  // namespace tscale::families
