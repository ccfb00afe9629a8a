// The model library: parameter counts from the constructed tensors (every catalog model, shape-only on the
// meta device), and real forwards of every architecture family at tiny sizes.
#include "runner/transformer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "common/catalog.h"
#include "support/shrunk_model.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

const Catalog& Models() {
  return testing::CatalogModels();
}

ModelConfig Load(const std::string& dir, const std::string& name) {
  Catalog catalog;
  EXPECT_TRUE(catalog.LoadDirectory(dir).ok());
  const ModelConfig* model = catalog.Find(name);
  EXPECT_NE(model, nullptr) << name;
  return model ? *model : ModelConfig{};
}

// The fidelity test: for every catalog model, the parameters of the model built from its config (on
// the meta device: nothing allocated, so 7B models are counted too) equal the exact count of the architecture
// facts file, and so the published count within 0.5 % unless the catalog says why not.
TEST(TransformerFidelity, EveryCatalogModelHasItsReferenceParameterCount) {
  ASSERT_GT(Models().size(), 0u);
  double max_diff_pct = 0;
  std::string max_model;
  int checked = 0;
  for (const ModelConfig& config : Models().models()) {
    SCOPED_TRACE(config.id);
    const int64_t built = MetaParameterCount(config);
    ASSERT_GT(config.reference_params, 0) << "catalog entry without reference_params";
    EXPECT_EQ(built, config.reference_params) << "built - reference = " << built - config.reference_params;
    ++checked;
    if (config.published_params_m <= 0) continue;
    const double diff_pct = 100.0 * std::abs(built / 1e6 - config.published_params_m) / config.published_params_m;
    if (config.params_note.empty()) EXPECT_LT(diff_pct, 0.5) << "published " << config.published_params_m << " M";
    if (diff_pct > max_diff_pct) {
      max_diff_pct = diff_pct;
      max_model = config.id;
    }
  }
  std::printf("[fidelity] %d catalog models built on the meta device; max |built - published| = %.3f %% (%s)\n",
              checked, max_diff_pct, max_model.c_str());
}

int CountNamed(const torch::nn::Module& model, const std::string& part, bool* all_frozen = nullptr) {
  int n = 0;
  if (all_frozen) *all_frozen = true;
  for (const auto& item : model.named_parameters()) {
    if (item.key().find(part) == std::string::npos) continue;
    ++n;
    if (all_frozen && item.value().requires_grad()) *all_frozen = false;
  }
  return n;
}

ModelConfig Meta(const std::string& name, BuildOptions* options) {
  options->device = torch::kMeta;
  return Load(testing::kCatalogDir, name);
}

// Structure the facts file describes, beyond the totals.
TEST(TransformerFidelity, StructureFollowsTheFactsFile) {
  BuildOptions o;
  {  // T5: one relative bias table per stack, shared by the stack's layers
    Transformer t5(Meta("microsoft/GODEL-v1_1-base-seq2seq", &o), o);
    EXPECT_EQ(CountNamed(*t5, "relative_attention_bias"), 2);
    EXPECT_EQ(CountNamed(*t5, "tokens."), 1);  // shared token embedding, counted once
  }
  {  // Pegasus: frozen sinusoid tables are parameters, one per stack
    Transformer pegasus(Meta("google/pegasus-xsum", &o), o);
    bool frozen = false;
    EXPECT_EQ(CountNamed(*pegasus, "sinusoids", &frozen), 2);
    EXPECT_TRUE(frozen);
  }
  {  // ALBERT: 12 applied layers, one parameter set
    const ModelConfig c = Meta("albert/albert-base-v2", &o);
    Transformer albert(c, o);
    EXPECT_EQ(c.layers, 12);
    EXPECT_EQ(CountNamed(*albert, ".attention.q.weight"), 1);
  }
  {  // GPT-J: one norm per block (shared by both parallel branches)
    const ModelConfig c = Meta("EleutherAI/gpt-j-6b", &o);
    Transformer gptj(c, o);
    EXPECT_EQ(CountNamed(*gptj, "mlp_norm"), 0);
    EXPECT_EQ(CountNamed(*gptj, "attention_norm.weight"), c.layers);
  }
}

TEST(TransformerFidelity, MetaAndRealConstructionAgree) {
  ModelConfig config = Load(testing::kCatalogDir, "bert-base-uncased");
  Transformer real(config);
  EXPECT_EQ(real->ParameterCount(), MetaParameterCount(config));
  EXPECT_EQ(real->ParameterCount(), config.reference_params);
}

TEST(Transformer, TinyModelsHaveAnalyticParameterCount) {
  for (const char* name : {"tiny-bert", "tiny-gpt2", "tiny-mamba"}) {
    SCOPED_TRACE(name);
    ModelConfig config = Load(testing::kTestModelsDir, name);
    Transformer model(config);
    EXPECT_EQ(model->ParameterCount(), AnalyticParameterCount(config));
  }
}

// One catalog model per architecture family, shrunk to test size with the family's structure intact (norms,
// positions, windows, sharing, groups, GQA ratio, factorised embeddings, ...).
ModelConfig Tiny(ModelConfig c) {
  if (c.mamba()) {  // no heads or FFN to shrink: width, depth and vocabulary only
    c.hidden = 64;
    c.vocab = 300;
    c.layers = 2;
    c.reference_params = 0;
    return c;
  }
  const int original_head_dim = c.EffectiveHeadDim();
  const int original_heads = c.heads;
  c.hidden = 64;
  c.heads = 4;
  if (c.head_dim > 0) c.head_dim = 16;
  if (c.kv_heads > 0 && c.kv_heads != original_heads) c.kv_heads = c.kv_heads == 1 ? 1 : 2;
  if (c.kv_heads == original_heads) c.kv_heads = 0;
  if (c.rotary_dims > 0) c.rotary_dims = c.rotary_dims < original_head_dim ? 8 : 0;
  c.ffn = 128;
  c.vocab = 300;
  c.layers = 2;
  if (c.decoder_layers > 0) c.decoder_layers = 3;  // differs from the encoder's, as in the distilled Blenderbots
  if (c.embedding_size > 0 && c.embedding_size < 768) c.embedding_size = 32;
  if (c.embedding_size >= 768) c.embedding_size = 0;
  if (c.attention_window > 0) c.attention_window = 8;
  if (c.global_tokens > 0) c.global_tokens = 2;
  if (c.relative_positions > 0) c.relative_positions = 16;
  c.reference_params = 0;
  return c;
}

std::map<std::string, ModelConfig> OnePerFamily() {
  std::map<std::string, ModelConfig> families;
  for (const ModelConfig& c : Models().models()) {
    // Prefer a member with a factorised embedding (ALBERT, ELECTRA-small, OPT-350m): more structure tested.
    const bool factorised = c.embedding_size > 0 && c.embedding_size != c.hidden;
    auto [it, added] = families.emplace(c.family, c);
    if (!added && factorised && it->second.EffectiveEmbeddingSize() == it->second.hidden) it->second = c;
  }
  return families;
}

struct Inputs {
  torch::Tensor ids, decoder_ids;
};

Inputs MakeInputs(const ModelConfig& c, int64_t batch, int64_t length, int64_t decoder_length) {
  Inputs in;
  in.ids = torch::randint(c.vocab, {batch, length}, torch::kLong);
  if (c.arch == ArchKind::kEncoderDecoder)
    in.decoder_ids = torch::randint(c.vocab, {batch, decoder_length}, torch::kLong);
  return in;
}

torch::Tensor Forward(const ModelConfig& c, const Inputs& in, uint64_t seed,
                      v1::AttentionImpl impl = v1::ATTENTION_IMPL_EAGER) {
  torch::manual_seed(seed);
  BuildOptions options;
  options.attention = impl;
  Transformer model(c, options);
  model->eval();
  torch::InferenceMode guard;
  return model->forward(in.ids, in.decoder_ids);
}

TEST(TransformerFamilies, TinyForwardShapeFiniteDeterministic) {
  const auto families = OnePerFamily();
  ASSERT_GT(families.size(), 0u);
  std::string names;
  for (const auto& [family, c] : families) names += " " + family;
  std::printf("[families] %zu tiny forwards:%s\n", families.size(), names.c_str());
  for (const auto& [family, full] : families) {
    SCOPED_TRACE(family + " (" + full.id + ")");
    const ModelConfig c = Tiny(full);
    // Off the catalog's sizes too, the built tensors and the analytic formula (common/) agree.
    EXPECT_EQ(MetaParameterCount(c), AnalyticParameterCount(c));
    torch::manual_seed(3);
    const Inputs in = MakeInputs(c, 2, 24, 13);  // decoder length != encoder length
    torch::Tensor out;
    try {
      out = Forward(c, in, 11);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    torch::manual_seed(11);
    const int64_t width = Transformer(c)->OutputWidth();
    const int64_t length = c.arch == ArchKind::kEncoderDecoder ? 13 : 24;
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, length, width}));
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
    EXPECT_TRUE(torch::equal(out, Forward(c, in, 11))) << "same seed, same inputs, different output";
    EXPECT_FALSE(torch::equal(out, Forward(c, in, 12))) << "the seed does not reach the weights";
    // The memory-efficient implementation computes the same function.
    auto blocked = Forward(c, in, 11, v1::ATTENTION_IMPL_MEMORY_EFFICIENT);
    EXPECT_TRUE(torch::allclose(out, blocked, 1e-4, 1e-4))
        << "max diff " << (out - blocked).abs().max().template item<double>();
    // bf16, as the runner makes it (built in fp32, then converted): same function within bf16 precision.
    torch::manual_seed(11);
    Transformer half(c);
    half->to(torch::kBFloat16);
    half->eval();
    torch::InferenceMode guard;
    try {
      auto y = half->forward(in.ids, in.decoder_ids);
      EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
      EXPECT_TRUE(torch::allclose(y.to(torch::kFloat), out, 0.05, 0.1))
          << "bf16 max diff " << (y.to(torch::kFloat) - out).abs().max().template item<double>();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "bf16: " << e.what();
    }
  }
}

// Changing a later token must not change earlier outputs of a decoder (the decoder stack of an
// encoder-decoder included), and must change them for an encoder.
TEST(TransformerFamilies, DecodersAreCausalEncodersAreNot) {
  for (const auto& [family, full] : OnePerFamily()) {
    SCOPED_TRACE(family + " (" + full.id + ")");
    const ModelConfig c = Tiny(full);
    torch::manual_seed(5);
    Inputs in = MakeInputs(c, 1, 20, 20);
    Inputs changed = in;
    const bool decoder_side = c.arch == ArchKind::kEncoderDecoder;
    torch::Tensor& target = decoder_side ? changed.decoder_ids : changed.ids;
    target = target.clone();
    target[0][15] = (target[0][15].item<int64_t>() + 1) % c.vocab;
    torch::Tensor a, b;
    try {
      a = Forward(c, in, 1);
      b = Forward(c, changed, 1);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    const bool prefix_same = torch::allclose(a.slice(1, 0, 15), b.slice(1, 0, 15), 1e-5, 1e-6);
    EXPECT_EQ(prefix_same, c.arch != ArchKind::kEncoder);
    EXPECT_FALSE(torch::allclose(a.slice(1, 15, 16), b.slice(1, 15, 16)));
  }
}

TEST(Transformer, EncoderDecoderUsesTheEncoderOutput) {
  for (const auto& [family, full] : OnePerFamily()) {
    if (full.arch != ArchKind::kEncoderDecoder) continue;
    SCOPED_TRACE(family);
    const ModelConfig c = Tiny(full);
    torch::manual_seed(9);
    Inputs in = MakeInputs(c, 1, 16, 8);
    Inputs changed = in;
    changed.ids = in.ids.clone();
    changed.ids[0][12] = (changed.ids[0][12].item<int64_t>() + 1) % c.vocab;
    // Every decoder position sees the whole encoder output through cross-attention.
    EXPECT_FALSE(torch::allclose(Forward(c, in, 1).slice(1, 0, 1), Forward(c, changed, 1).slice(1, 0, 1)));
  }
}

TEST(Transformer, ForwardShape) {
  ModelConfig config = Load(testing::kTestModelsDir, "tiny-bert");
  torch::manual_seed(0);
  Transformer model(config);
  model->eval();
  torch::InferenceMode guard;
  auto out = model->forward(torch::randint(config.vocab, {3, 17}, torch::kLong));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 17, config.hidden}));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

TEST(Transformer, SameSeedSameWeights) {
  ModelConfig config = Load(testing::kTestModelsDir, "tiny-gpt2");
  torch::manual_seed(7);
  Transformer a(config);
  torch::manual_seed(7);
  Transformer b(config);
  auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
}

// A grouped linear is block-diagonal: output group g depends only on input group g.
TEST(Transformer, GroupedLinearIsBlockDiagonal) {
  torch::manual_seed(0);
  Linear grouped(8, 12, true, torch::TensorOptions(), 4);
  int64_t count = 0;
  for (const auto& p : grouped->parameters()) count += p.numel();
  EXPECT_EQ(count, 8 * 12 / 4 + 12);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({3, 8});
  auto y = grouped(x);
  auto x2 = x.clone();
  x2.select(1, 0) += 1;  // group 0 of the input
  auto y2 = grouped(x2);
  EXPECT_FALSE(torch::allclose(y.narrow(1, 0, 3), y2.narrow(1, 0, 3)));
  EXPECT_TRUE(torch::allclose(y.narrow(1, 3, 9), y2.narrow(1, 3, 9)));
}

// A model built for a reduced-precision job has its parameters in that dtype from the start (no fp32 copy), for
// every structural variant, and runs.
TEST(Transformer, BuildsParametersInTheRequestedDtype) {
  for (const char* id : {"bert-base-uncased", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "microsoft/GODEL-v1_1-base-seq2seq",
                         "bigscience/bloom-560m", "google/pegasus-xsum", "albert-base-v2"}) {
    SCOPED_TRACE(id);
    const ModelConfig c = testing::ShrunkCatalogModel(id);
    BuildOptions options;
    options.dtype = torch::kBFloat16;
    torch::manual_seed(1);
    Transformer model(c, options);
    model->eval();
    for (const auto& item : model->named_parameters())
      EXPECT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
    torch::manual_seed(1);
    Transformer fp32(c);
    EXPECT_EQ(model->ParameterCount(), fp32->ParameterCount());
    auto reference = fp32->named_parameters();
    for (const auto& item : model->named_parameters())  // the same seed draws the same weights, rounded
      EXPECT_TRUE(torch::equal(item.value(), reference[item.key()].to(torch::kBFloat16))) << item.key();
    torch::NoGradGuard no_grad;
    auto ids = torch::randint(c.vocab, {1, 16}, torch::kLong);
    auto out = model->forward(ids, c.arch == ArchKind::kEncoderDecoder ? ids.narrow(1, 0, 8) : torch::Tensor());
    EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::isfinite(out.to(torch::kFloat)).all().item<bool>());
  }
}

}  // namespace
}  // namespace tscale
