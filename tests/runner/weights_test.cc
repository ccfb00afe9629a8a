// Real weights from .safetensors files the tests write: tscale names for every architecture family, Hugging
// Face names (with HF's layouts) for BERT, GPT-2 and Llama, and every way a file can be wrong.
#include "runner/weights.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <utility>
#include <vector>

#include "runner/model_source.h"
#include "runner/transformer.h"
#include "support/safetensors_file.h"
#include "support/shrunk_model.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace tscale {
namespace {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

const char* SafetensorsDtype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32:
      return "F32";
    case torch::kBFloat16:
      return "BF16";
    case torch::kLong:
      return "I64";
    default:
      return "?";
  }
}

void WriteSafetensors(const std::string& path, const NamedTensors& tensors) {
  std::vector<testing::SafetensorsEntry> entries;
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.contiguous();
    entries.push_back({name, SafetensorsDtype(t.scalar_type()), t.sizes().vec(),
                       std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size())});
  }
  testing::WriteSafetensorsFile(path, entries);
}

NamedTensors ParametersOf(torch::nn::Module& model) {
  NamedTensors out;
  for (const auto& item : model.named_parameters()) out.emplace_back(item.key(), item.value().detach().clone());
  return out;
}

ModelConfig Shrunk(const std::string& id) {
  return testing::ShrunkCatalogModel(id);
}

Transformer Build(const ModelConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  Transformer model(c);
  model->eval();
  return model;
}

torch::Tensor Forward(Transformer& model, const ModelConfig& c) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(7);
  auto ids = torch::randint(c.vocab, {2, 12}, torch::kLong);
  return model->forward(ids, c.arch == ArchKind::kEncoderDecoder ? ids.narrow(1, 0, 5) : torch::Tensor());
}

StatusOr<WeightsLoaded> Load(Transformer& model, const ModelConfig& c, const std::string& path) {
  return LoadSafetensorsWeights(*model, c, path);
}

// A model given another model's weights under tscale's own names computes exactly what that model computes.
TEST(Weights, TscaleNamesReproduceTheSourceModelForEveryFamily) {
  testing::TempDir dir;
  for (const char* id :
       {"bert-base-uncased", "gpt2", "microsoft/GODEL-v1_1-base-seq2seq", "albert-base-v2",
        "squeezebert/squeezebert-uncased", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "facebook/opt-350m",
        "microsoft/deberta-base", "allenai/longformer-base-4096", "microsoft/prophetnet-large-uncased"}) {
    SCOPED_TRACE(id);
    const ModelConfig c = Shrunk(id);
    Transformer source = Build(c, 1), target = Build(c, 2);
    const auto expected = Forward(source, c);
    ASSERT_FALSE(torch::allclose(Forward(target, c), expected)) << "the two seeds built the same weights";
    const NamedTensors tensors = ParametersOf(*source);
    WriteSafetensors(dir.File("model.safetensors"), tensors);
    auto loaded = Load(target, c, dir.File("model.safetensors"));
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ(loaded->tensors, static_cast<int>(tensors.size()));
    EXPECT_EQ(loaded->skipped, 0);
    EXPECT_EQ(loaded->naming, "tscale");
    EXPECT_TRUE(torch::equal(Forward(target, c), expected));
  }
}

// BERT checkpoints as HF writes them: under "bert.", old LayerNorm gamma/beta names, a position-id buffer and
// an MLM head that are no parameters of the base model.
TEST(Weights, HuggingFaceBertNames) {
  testing::TempDir dir;
  const ModelConfig c = Shrunk("bert-base-uncased");
  ASSERT_EQ(c.family, "bert");
  Transformer source = Build(c, 1), target = Build(c, 2);
  auto p = source->named_parameters();
  NamedTensors hf = {
      {"bert.embeddings.word_embeddings.weight", p["tokens.weight"]},
      {"bert.embeddings.position_embeddings.weight", p["encoder.positions.weight"]},
      {"bert.embeddings.token_type_embeddings.weight", p["encoder.token_types.weight"]},
      {"bert.embeddings.LayerNorm.gamma", p["encoder.embedding_norm.weight"]},
      {"bert.embeddings.LayerNorm.beta", p["encoder.embedding_norm.bias"]},
      {"bert.embeddings.position_ids", torch::arange(c.position_rows, torch::kLong).unsqueeze(0)},
      {"bert.pooler.dense.weight", p["pooler.weight"]},
      {"bert.pooler.dense.bias", p["pooler.bias"]},
      {"cls.predictions.bias", torch::zeros({c.vocab})},
  };
  for (int layer = 0; layer < c.layers; ++layer) {
    const std::string hf_layer = "bert.encoder.layer." + std::to_string(layer) + ".";
    const std::string ours = "encoder.blocks." + std::to_string(layer) + ".";
    for (const char* kind : {"weight", "bias"}) {
      const std::string k = kind;
      hf.push_back({hf_layer + "attention.self.query." + k, p[ours + "attention.q." + k]});
      hf.push_back({hf_layer + "attention.self.key." + k, p[ours + "attention.k." + k]});
      hf.push_back({hf_layer + "attention.self.value." + k, p[ours + "attention.v." + k]});
      hf.push_back({hf_layer + "attention.output.dense." + k, p[ours + "attention.out." + k]});
      hf.push_back({hf_layer + "attention.output.LayerNorm." + k, p[ours + "attention_norm." + k]});
      hf.push_back({hf_layer + "intermediate.dense." + k, p[ours + "mlp.up." + k]});
      hf.push_back({hf_layer + "output.dense." + k, p[ours + "mlp.down." + k]});
      hf.push_back({hf_layer + "output.LayerNorm." + k, p[ours + "mlp_norm." + k]});
    }
  }
  // A hostile name of 100 000 digits is skipped unmatched (matching it with std::regex would overflow the stack).
  hf.push_back({"bert.encoder.layer." + std::string(100000, '7') + ".output.dense.bias", torch::zeros({2})});
  WriteSafetensors(dir.File("bert.safetensors"), hf);
  auto loaded = Load(target, c, dir.File("bert.safetensors"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->skipped, 3);  // position_ids, the MLM head's bias, the hostile name
  EXPECT_EQ(loaded->naming, "bert");
  EXPECT_TRUE(loaded->kept_random.empty());
  EXPECT_TRUE(torch::equal(Forward(target, c), Forward(source, c)));

  // An MLM checkpoint without the pooler (RoBERTa's) loads, as in HF: the pooler keeps its seeded weights and the
  // summary says so. Any other missing parameter is still an error.
  hf.erase(
      std::remove_if(hf.begin(), hf.end(), [](const auto& t) { return t.first.find("pooler") != std::string::npos; }),
      hf.end());
  WriteSafetensors(dir.File("mlm.safetensors"), hf);
  Transformer fresh = Build(c, 2);
  auto mlm = Load(fresh, c, dir.File("mlm.safetensors"));
  ASSERT_TRUE(mlm.ok()) << mlm.status().ToString();
  EXPECT_EQ(mlm->kept_random, (std::vector<std::string>{"pooler.bias", "pooler.weight"}));
  EXPECT_NE(mlm->Summary("f").find("not in the file, so seeded random as HF does: pooler.bias, pooler.weight"),
            std::string::npos);
  hf.erase(hf.begin());  // the word embeddings
  WriteSafetensors(dir.File("mlm.safetensors"), hf);
  EXPECT_FALSE(Load(fresh, c, dir.File("mlm.safetensors")).ok());
}

// GPT-2's Conv1D layers store [in, out], and its c_attn holds q, k and v in one matrix.
TEST(Weights, HuggingFaceGpt2NamesUndoConv1DAndSplitTheFusedAttention) {
  testing::TempDir dir;
  const ModelConfig c = Shrunk("gpt2");
  Transformer source = Build(c, 1), target = Build(c, 2);
  auto p = source->named_parameters();
  NamedTensors hf = {{"transformer.wte.weight", p["tokens.weight"]},
                     {"transformer.wpe.weight", p["decoder.positions.weight"]},
                     {"transformer.ln_f.weight", p["decoder.final_norm.weight"]},
                     {"transformer.ln_f.bias", p["decoder.final_norm.bias"]},
                     {"lm_head.weight", p["tokens.weight"]}};
  for (int layer = 0; layer < c.layers; ++layer) {
    const std::string h = "transformer.h." + std::to_string(layer) + ".";
    const std::string ours = "decoder.blocks." + std::to_string(layer) + ".";
    auto w = [&](const std::string& name) { return p[ours + name]; };
    hf.push_back({h + "ln_1.weight", w("attention_norm.weight")});
    hf.push_back({h + "ln_1.bias", w("attention_norm.bias")});
    hf.push_back({h + "attn.c_attn.weight",
                  torch::cat({w("attention.q.weight"), w("attention.k.weight"), w("attention.v.weight")}, 0).t()});
    hf.push_back(
        {h + "attn.c_attn.bias", torch::cat({w("attention.q.bias"), w("attention.k.bias"), w("attention.v.bias")}, 0)});
    hf.push_back({h + "attn.c_proj.weight", w("attention.out.weight").t()});
    hf.push_back({h + "attn.c_proj.bias", w("attention.out.bias")});
    hf.push_back({h + "attn.bias", torch::ones({1, 1, 4, 4})});  // the causal-mask buffer old checkpoints carry
    hf.push_back({h + "ln_2.weight", w("mlp_norm.weight")});
    hf.push_back({h + "ln_2.bias", w("mlp_norm.bias")});
    hf.push_back({h + "mlp.c_fc.weight", w("mlp.up.weight").t()});
    hf.push_back({h + "mlp.c_fc.bias", w("mlp.up.bias")});
    hf.push_back({h + "mlp.c_proj.weight", w("mlp.down.weight").t()});
    hf.push_back({h + "mlp.c_proj.bias", w("mlp.down.bias")});
  }
  WriteSafetensors(dir.File("gpt2.safetensors"), hf);
  auto loaded = Load(target, c, dir.File("gpt2.safetensors"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->skipped, 1 + c.layers);  // lm_head and each layer's mask buffer
  EXPECT_TRUE(torch::equal(Forward(target, c), Forward(source, c)));
}

// Llama names under "model.", GQA shapes, SwiGLU's three matrices, RMSNorm; stored in bf16 and converted.
TEST(Weights, HuggingFaceLlamaNamesInBf16) {
  testing::TempDir dir;
  const ModelConfig c = Shrunk("TinyLlama/TinyLlama-1.1B-Chat-v1.0");
  ASSERT_EQ(c.family, "llama");
  ASSERT_LT(c.EffectiveKvHeads(), c.heads);
  Transformer source = Build(c, 1), target = Build(c, 2);
  auto p = source->named_parameters();
  auto bf16 = [](const torch::Tensor& t) { return t.to(torch::kBFloat16); };
  NamedTensors hf = {{"model.embed_tokens.weight", bf16(p["tokens.weight"])},
                     {"model.norm.weight", bf16(p["decoder.final_norm.weight"])},
                     {"model.layers.0.self_attn.rotary_emb.inv_freq", torch::ones({4})}};
  for (int layer = 0; layer < c.layers; ++layer) {
    const std::string hf_layer = "model.layers." + std::to_string(layer) + ".";
    const std::string ours = "decoder.blocks." + std::to_string(layer) + ".";
    for (auto [theirs, mine] :
         std::vector<std::pair<const char*, const char*>>{{"self_attn.q_proj", "attention.q"},
                                                          {"self_attn.k_proj", "attention.k"},
                                                          {"self_attn.v_proj", "attention.v"},
                                                          {"self_attn.o_proj", "attention.out"},
                                                          {"mlp.gate_proj", "mlp.gate"},
                                                          {"mlp.up_proj", "mlp.up"},
                                                          {"mlp.down_proj", "mlp.down"},
                                                          {"input_layernorm", "attention_norm"},
                                                          {"post_attention_layernorm", "mlp_norm"}})
      hf.push_back({hf_layer + theirs + ".weight", bf16(p[ours + mine + ".weight"])});
  }
  WriteSafetensors(dir.File("llama.safetensors"), hf);
  auto loaded = Load(target, c, dir.File("llama.safetensors"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->skipped, 1);
  for (const auto& item : target->named_parameters()) {
    SCOPED_TRACE(item.key());
    EXPECT_EQ(item.value().scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(item.value(), p[item.key()].to(torch::kBFloat16).to(torch::kFloat32)));
  }
}

// MambaForCausalLM's names: "backbone." over the base model, the mixer's tensors under HF's own names, and the
// top-level lm_head.weight of a tied checkpoint, which fills no parameter and is skipped.
TEST(Weights, HuggingFaceMambaForCausalLMNames) {
  testing::TempDir dir;
  const ModelConfig c = Shrunk("state-spaces/mamba-130m");
  ASSERT_EQ(c.family, "mamba");
  Transformer source = Build(c, 1), target = Build(c, 2);
  auto p = source->named_parameters();
  NamedTensors hf = {{"backbone.embeddings.weight", p["tokens.weight"]},
                     {"backbone.norm_f.weight", p["decoder.final_norm.weight"]},
                     {"lm_head.weight", p["tokens.weight"]}};
  for (int layer = 0; layer < c.layers; ++layer) {
    const std::string theirs = "backbone.layers." + std::to_string(layer) + ".";
    const std::string ours = "decoder.blocks." + std::to_string(layer) + ".";
    hf.push_back({theirs + "norm.weight", p[ours + "norm.weight"]});
    for (const char* name : {"in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight",
                             "dt_proj.bias", "A_log", "D", "out_proj.weight"})
      hf.push_back({theirs + "mixer." + name, p[ours + "mixer." + name]});
  }
  WriteSafetensors(dir.File("mamba.safetensors"), hf);
  auto loaded = Load(target, c, dir.File("mamba.safetensors"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->skipped, 1);  // the tied lm_head.weight
  for (const auto& item : target->named_parameters()) {
    SCOPED_TRACE(item.key());
    EXPECT_TRUE(torch::equal(item.value(), p[item.key()]));
  }
  EXPECT_TRUE(torch::allclose(Forward(target, c), Forward(source, c)));
}

TEST(Weights, AWrongFileIsAnErrorNamingWhatIsWrong) {
  testing::TempDir dir;
  const ModelConfig c = Shrunk("gpt2");
  Transformer source = Build(c, 1), target = Build(c, 2);
  const NamedTensors all = ParametersOf(*source);
  auto expect_error = [&](const NamedTensors& tensors, Status::Code code, const std::string& expected) {
    WriteSafetensors(dir.File("bad.safetensors"), tensors);
    auto loaded = Load(target, c, dir.File("bad.safetensors"));
    ASSERT_FALSE(loaded.ok()) << expected;
    EXPECT_EQ(loaded.status().code(), code) << loaded.status().ToString();
    EXPECT_NE(loaded.status().message().find(expected), std::string::npos) << loaded.status().message();
  };

  NamedTensors missing(all.begin() + 1, all.end());
  expect_error(missing, Status::Code::kInvalidArgument,
               "1 of " + std::to_string(all.size()) + " parameters have no tensor");
  NamedTensors wrong_shape = all;
  wrong_shape[0].second = torch::zeros({3, 5});
  expect_error(wrong_shape, Status::Code::kInvalidArgument,
               "tensor \"" + all[0].first + "\" has shape [3, 5] but \"" + all[0].first + "\" is [");
  NamedTensors twice = all;
  twice.push_back({"transformer.wte.weight", all[0].second});  // tokens.weight again, under its HF name
  ASSERT_EQ(all[0].first, "tokens.weight");
  expect_error(twice, Status::Code::kInvalidArgument, "both fill \"tokens.weight\"");
  NamedTensors integers = all;
  integers[0].second = torch::zeros(all[0].second.sizes(), torch::kLong);
  expect_error(integers, Status::Code::kInvalidArgument, "dtype I64 cannot fill");

  // Truncated: the header promises more data than the file holds.
  WriteSafetensors(dir.File("whole.safetensors"), all);
  std::ifstream in(dir.File("whole.safetensors"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir.File("cut.safetensors"), std::ios::binary) << bytes.substr(0, bytes.size() - 100);
  auto cut = Load(target, c, dir.File("cut.safetensors"));
  EXPECT_EQ(cut.status().code(), Status::Code::kDataLoss) << cut.status().ToString();
  EXPECT_NE(cut.status().message().find("truncated"), std::string::npos) << cut.status().message();
  std::ofstream(dir.File("garbage.safetensors"), std::ios::binary)
      << std::string("\x10\0\0\0\0\0\0\0not json at all!", 24);
  EXPECT_FALSE(Load(target, c, dir.File("garbage.safetensors")).ok());
  EXPECT_EQ(Load(target, c, dir.File("absent.safetensors")).status().code(), Status::Code::kNotFound);
}

// The names a user's file must use are what `tscale-runner --parameter-names` prints: exactly the built model's.
TEST(Weights, ParameterNamesListEveryParameterWithItsShape) {
  const ModelConfig c = Shrunk("microsoft/GODEL-v1_1-base-seq2seq");
  const std::string text = ParameterNamesText(c);
  Transformer model = Build(c, 1);
  size_t lines = 0;
  for (char ch : text) lines += ch == '\n';
  EXPECT_EQ(lines, model->named_parameters().size());
  EXPECT_NE(text.find("tokens.weight [300, 64]\n"), std::string::npos) << text.substr(0, 200);
  EXPECT_NE(text.find("decoder.blocks.1.cross_attention.q.weight [64, 64]\n"), std::string::npos);
}

}  // namespace
}  // namespace tscale
