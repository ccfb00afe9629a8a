// SqueezeBERT: BERT with grouped 1x1 convolutions, run as grouped linear layers.
#include "common/families/family.h"
#include "common/families/hf_reader.h"

namespace tscale::families {
namespace {

std::string Approximation(const ModelConfig& c) {
  const int groups = c.conv_groups > 0 ? c.conv_groups : 1;
  return "SqueezeBERT's grouped 1x1 convolutions (q/k/v and FFN, groups=" + std::to_string(groups) +
         ") run as grouped linear layers: the same weights and arithmetic; the attention output projection stays "
         "dense (groups=1).";
}

void SqueezeBertLayout(ModelArchitecture* a) {
  EncoderLayout(a);
  a->conv_groups = 4;  // HF's default q_groups (and the other group counts)
}
void SqueezeBert(HfReader& r, ModelConfig* c) {
  BertEncoder(r, "gelu", 512, 0, c);
  if (r.Int("embedding_size", 768) != c->hidden)
    r.Fail("embedding_size", "must equal hidden_size (SqueezeBERT has no embedding projection)");
  // tscale has one group count for q, k, v and both FFN convolutions, and a dense attention output.
  const int groups = r.Int("q_groups", 4);
  for (const char* key : {"k_groups", "v_groups", "intermediate_groups", "output_groups"})
    if (r.Int(key, 4) != groups) r.Fail(key, "must equal q_groups (" + std::to_string(groups) + ")");
  if (r.Int("post_attention_groups", 1) != 1)
    r.Fail("post_attention_groups", "only 1 is expressible (the attention output projection is dense)");
  if (r.ok() && groups < 1) r.Fail("q_groups", "must be at least 1");
  c->conv_groups = groups > 1 ? groups : 0;
}

}  // namespace

const FamilySpec kSqueezeBert{"squeezebert", SqueezeBertLayout, SqueezeBert, nullptr, Approximation};
}  // namespace tscale::families
