// Generation with the KV cache against an independent formulation, the full forward: for every catalog model
// that decodes (at test size), the logits of incremental decoding — the prompt once, then one token per step —
// equal the full forward's logits at the same positions over prompt + generated tokens (teacher-forced), in
// fp32 within 1e-4, for eager and memory-efficient attention; and the cache holds exactly the analytic bytes.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/catalog.h"
#include "runner/kv_cache.h"
#include "runner/transformer.h"
#include "support/shrunk_model.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

constexpr int64_t kBatch = 2, kPrompt = 7, kNewTokens = 6;

double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

struct Decoded {
  torch::Tensor logits;  // [batch, new_tokens, vocab]: the logits that chose each generated token
  torch::Tensor tokens;  // [batch, new_tokens]
  int64_t cache_bytes = 0;
};

// Greedy generation: prefill the prompt, then feed back the argmax token each step.
Decoded Generate(Transformer& model, const ModelConfig& c, const torch::Tensor& prompt, const torch::Tensor& start) {
  const bool seq2seq = c.arch == ArchKind::kEncoderDecoder;
  const int64_t capacity = seq2seq ? 1 + kNewTokens : kPrompt + kNewTokens;
  KvCache cache(c, kBatch, capacity, torch::TensorOptions().dtype(torch::kFloat));
  std::vector<torch::Tensor> logits, tokens;
  auto hidden = seq2seq ? model->ForwardCached(start, &cache, prompt) : model->ForwardCached(prompt, &cache);
  for (int64_t step = 0; step < kNewTokens; ++step) {
    auto last = model->Logits(hidden.select(1, hidden.size(1) - 1));  // [batch, vocab]
    auto next = last.argmax(-1);
    logits.push_back(last);
    tokens.push_back(next);
    if (step + 1 < kNewTokens) hidden = model->ForwardCached(next.unsqueeze(1), &cache);
  }
  return {torch::stack(logits, 1), torch::stack(tokens, 1), cache.Bytes()};
}

// The full forward over prompt + generated tokens (decoder-only), or over the decoder's start + generated
// tokens with the prompt encoded (encoder-decoder); the logits at the positions that chose each token.
torch::Tensor TeacherForced(Transformer& model, const ModelConfig& c, const torch::Tensor& prompt,
                            const torch::Tensor& start, const torch::Tensor& generated) {
  const auto fed = generated.narrow(1, 0, kNewTokens - 1);
  if (c.arch == ArchKind::kEncoderDecoder) {
    auto hidden = model->forward(prompt, torch::cat({start, fed}, 1));
    return model->Logits(hidden);
  }
  auto hidden = model->forward(torch::cat({prompt, fed}, 1));
  return model->Logits(hidden.narrow(1, kPrompt - 1, kNewTokens));
}

void ExpectIncrementalEqualsFull(ModelConfig c, v1::AttentionImpl impl) {
  c10::InferenceMode guard;
  torch::manual_seed(7);
  BuildOptions options;
  options.attention = impl;
  options.lm_head = true;
  Transformer model(c, options);
  model->eval();
  auto prompt = torch::randint(c.vocab, {kBatch, kPrompt}, torch::kLong);
  auto start = torch::zeros({kBatch, 1}, torch::kLong);  // the decoder's start token
  Decoded decoded = Generate(model, c, prompt, start);
  auto full = TeacherForced(model, c, prompt, start, decoded.tokens);
  ASSERT_EQ(full.sizes(), decoded.logits.sizes());
  EXPECT_LT(MaxAbsDiff(full, decoded.logits), 1e-4);
  const bool seq2seq = c.arch == ArchKind::kEncoderDecoder;
  EXPECT_EQ(decoded.cache_bytes,
            KvCacheBytes(c, kBatch, seq2seq ? 1 + kNewTokens : kPrompt + kNewTokens, 4, seq2seq ? kPrompt : 0));
}

// Every catalog model that decodes, one per distinct architecture, shrunk; windows cut to 4 tokens so the
// ring wraps within the prompt.
std::vector<ModelConfig> DecodingModels() {
  Catalog catalog;
  EXPECT_TRUE(catalog.LoadDirectory(testing::kCatalogDir).ok());
  std::vector<ModelConfig> out;
  std::set<std::string> seen;
  for (const ModelConfig& model : catalog.models()) {
    if (model.arch == ArchKind::kEncoder) continue;
    ModelConfig c = testing::ShrunkCatalogModel(model.id);
    if (c.attention_window > 0) c.attention_window = 4;
    c.id = model.id;
    auto text = ModelConfigToJson(c);
    const std::string shape = text.substr(text.find("\"arch\""));  // the architecture, not the identity
    if (seen.insert(shape).second) out.push_back(c);
  }
  return out;
}

TEST(Decode, IncrementalLogitsEqualTheFullForwardForEveryDecodingFamily) {
  std::set<std::string> families;
  for (const ModelConfig& c : DecodingModels()) {
    SCOPED_TRACE(c.id);
    families.insert(c.family);
    for (auto impl : {v1::ATTENTION_IMPL_EAGER, v1::ATTENTION_IMPL_MEMORY_EFFICIENT}) {
      SCOPED_TRACE(impl);
      ExpectIncrementalEqualsFull(c, impl);
    }
  }
  // gpt2, gpt_neo, gptj, gpt_neox, opt, bloom, llama, mistral, phi, falcon, bart, pegasus, blenderbot,
  // prophetnet, t5, mamba: every decoder and encoder-decoder family of the catalog (the linear-attention
  // reference is family gpt2 with another attention_kind, so it is a shape of its own but not a family).
  EXPECT_EQ(families.size(), 16u);
}

TEST(Decode, MultiQueryAndFusedAttentionWhereAvailable) {
  ModelConfig c = testing::ShrunkCatalogModel("tiiuae/falcon-7b");
  c.kv_heads = 1;  // one key/value head for four query heads
  ExpectIncrementalEqualsFull(c, v1::ATTENTION_IMPL_EAGER);
  if (FusedAttentionAvailable()) ExpectIncrementalEqualsFull(c, v1::ATTENTION_IMPL_FUSED);
  ModelConfig mistral = testing::ShrunkCatalogModel("mistralai/Mistral-7B-v0.1");
  mistral.attention_window = 3;
  if (FusedAttentionAvailable()) ExpectIncrementalEqualsFull(mistral, v1::ATTENTION_IMPL_FUSED);
}

// The ring of a sliding-window layer holds the window, not the whole generation.
TEST(Decode, AWindowLayerCachesOnlyItsWindow) {
  ModelConfig c = testing::ShrunkCatalogModel("mistralai/Mistral-7B-v0.1");
  c.attention_window = 4;
  KvCache cache(c, 1, 1000, torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_EQ(cache.layer(0).k.size(2), 4);
  EXPECT_TRUE(cache.layer(0).ring);
  EXPECT_EQ(cache.Bytes(), KvCacheBytes(c, 1, 1000, 4));
  EXPECT_EQ(cache.Bytes(), 2 * c.layers * c.EffectiveKvHeads() * c.EffectiveHeadDim() * 4 * 4);
  ModelConfig neo = testing::ShrunkCatalogModel("EleutherAI/gpt-neo-125m");
  neo.attention_window = 4;
  KvCache odd(neo, 1, 1000, torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_FALSE(odd.layer(0).ring);  // GPT-Neo: global first, local (windowed) second
  EXPECT_TRUE(odd.layer(1).ring);
  EXPECT_EQ(odd.Bytes(), KvCacheBytes(neo, 1, 1000, 4));
}

TEST(Decode, EncodersAndMisuseAreClearErrors) {
  ModelConfig bert = testing::ShrunkCatalogModel("google-bert/bert-base-uncased");
  try {
    KvCache cache(bert, 1, 8, torch::TensorOptions());
    FAIL() << "an encoder has no KV cache";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("is an encoder"), std::string::npos) << e.what();
  }
  ModelConfig gpt2 = testing::ShrunkCatalogModel("openai-community/gpt2");
  c10::InferenceMode guard;
  Transformer model(gpt2, BuildOptions{});
  KvCache cache(gpt2, 1, 8, torch::TensorOptions());
  model->ForwardCached(torch::zeros({1, 3}, torch::kLong), &cache);
  EXPECT_THROW(model->ForwardCached(torch::zeros({1, 2}, torch::kLong), &cache), std::logic_error);  // 2 after prompt
  KvCache small(gpt2, 1, 4, torch::TensorOptions());
  model->ForwardCached(torch::zeros({1, 4}, torch::kLong), &small);
  EXPECT_THROW(model->ForwardCached(torch::zeros({1, 1}, torch::kLong), &small), std::logic_error);  // past capacity
}

// The head is counted apart from the base model, and matches the facts file's lm_head_extra_params_m.
TEST(Decode, UntiedHeadsAreBuiltOnlyForGenerationAndCountedApart) {
  Catalog catalog;
  ASSERT_TRUE(catalog.LoadDirectory(testing::kCatalogDir).ok());
  const ModelConfig* gptj = catalog.Find("EleutherAI/gpt-j-6b");
  ASSERT_NE(gptj, nullptr);
  EXPECT_EQ(HeadParameterCount(*gptj), 50400LL * 4096 + 50400);  // 206.5 M with its bias
  const ModelConfig* gpt2 = catalog.Find("openai-community/gpt2");
  ASSERT_NE(gpt2, nullptr);
  EXPECT_EQ(HeadParameterCount(*gpt2), 0);  // tied to the token embedding
  ModelConfig small = testing::ShrunkCatalogModel("EleutherAI/pythia-160m");
  BuildOptions with_head;
  with_head.device = torch::kMeta;
  with_head.lm_head = true;
  EXPECT_EQ(Transformer(small, with_head)->ParameterCount(), MetaParameterCount(small) + HeadParameterCount(small));
}

}  // namespace
}  // namespace tscale
