// The decode workload: one step is a whole greedy generation with a KV cache. The prefill of seq_len prompt
// tokens yields the first new token (time to first token), then each of the new_tokens - 1 steps feeds the
// last token back and yields the next (time per output token). Each part is timed on its own, device-
// synchronised, and the shared loop times the whole generation; FillResult keeps the parts of the timed
// generations only (they are the last ones run: the warm-up comes first).
#include <chrono>
#include <stdexcept>

#include "runner/device.h"
#include "runner/kv_cache.h"
#include "runner/workload.h"

namespace tscale {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxStoredSteps = 65536;  // about 0.9 MB of the result

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

class DecodeWorkload : public Workload {
 public:
  DecodeWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model)
      : config_(config),
        model_(model),
        seed_(job.measurement().seed()),
        batch_(job.batch_size() > 0 ? job.batch_size() : 1),
        seq_len_(job.seq_len()),
        new_tokens_(job.new_tokens()),
        seq2seq_(config.arch == ArchKind::kEncoderDecoder) {
    if (!model->transformer)
      throw std::runtime_error("workload decode: a TorchScript module cannot decode (no KV cache)");
    if (config.arch == ArchKind::kEncoder)
      throw std::runtime_error("workload decode: " + config.id + " is an encoder-only model; it does not generate");
    if (new_tokens_ < 1) throw std::runtime_error("workload decode: new_tokens must be at least 1");
  }

  void Prepare(const torch::Device& device) override {
    device_ = device;
    torch::manual_seed(seed_ + 1);  // token ids drawn on the CPU: one seed, the same prompt on every device
    prompt_ = torch::randint(config_.vocab, {batch_, seq_len_}, torch::kLong).to(device);
    start_ = torch::zeros({batch_, 1}, torch::TensorOptions().dtype(torch::kLong).device(device));
    // Preallocated once for every generation: the prompt (or the decoder's start token) plus the new tokens.
    const auto dtype = model_->transformer->parameters().front().scalar_type();
    cache_ = std::make_unique<KvCache>(config_, batch_, Capacity(), torch::TensorOptions().dtype(dtype).device(device));
  }

  void Step() override {
    Transformer& model = model_->transformer;
    cache_->Reset();
    auto start = Clock::now();
    auto hidden =
        seq2seq_ ? model->ForwardCached(start_, cache_.get(), prompt_) : model->ForwardCached(prompt_, cache_.get());
    auto next = model->Logits(hidden.select(1, hidden.size(1) - 1)).argmax(-1, /*keepdim=*/true);
    SynchronizeDevice(device_);
    ttft_ms_.push_back(MsSince(start));
    for (int step = 1; step < new_tokens_; ++step) {
      step_positions_.push_back(static_cast<int32_t>(cache_->length()));  // where the fed token sits
      start = Clock::now();
      hidden = model->ForwardCached(next, cache_.get());
      next = model->Logits(hidden.select(1, 0)).argmax(-1, /*keepdim=*/true);
      SynchronizeDevice(device_);
      step_ms_.push_back(MsSince(start));
    }
  }

  // Generated tokens per generation; tokens/s over the whole generation (the decode rate is in DecodeStats).
  double TokensPerStep() const override { return static_cast<double>(batch_) * new_tokens_; }

  double FlopsPerStep() const override {
    double flops =
        seq2seq_ ? ForwardFlops(config_, batch_, seq_len_, /*decoder_len=*/1) : ForwardFlops(config_, batch_, seq_len_);
    flops += 2.0 * batch_ * HeadWidth() * config_.vocab;  // the prefill's head, on its last position
    for (int step = 1; step < new_tokens_; ++step)
      flops += DecodeStepFlops(config_, batch_, Keys(step), EncoderTokens());
    return flops;
  }

  void FillResult(v1::Result* result) const override {
    const size_t generations = static_cast<size_t>(result->samples_ms_size());
    const size_t steps = static_cast<size_t>(new_tokens_ - 1);
    auto* decode = result->mutable_decode();
    decode->set_new_tokens(new_tokens_);
    std::vector<double> ttft(ttft_ms_.end() - static_cast<long>(std::min(generations, ttft_ms_.size())),
                             ttft_ms_.end());
    const size_t kept = std::min(generations * steps, step_ms_.size());
    std::vector<double> tpot(step_ms_.end() - static_cast<long>(kept), step_ms_.end());
    for (double ms : ttft) decode->add_ttft_samples_ms(ms);
    // Statistics use every timed step; the stored list keeps the latest kMaxStoredSteps, so a long measurement
    // cannot push the result past the worker's size limit.
    for (size_t i = step_ms_.size() - std::min(kept, kMaxStoredSteps); i < step_ms_.size(); ++i) {
      decode->add_step_ms(step_ms_[i]);
      decode->add_step_positions(step_positions_[i]);
    }
    FillLatency(ttft, decode->mutable_ttft());
    FillLatency(tpot, decode->mutable_tpot());
    const double tpot_s = decode->tpot().median_ms() / 1000.0;
    decode->set_decode_tokens_per_second(tpot_s > 0 ? batch_ / tpot_s : 0);
    decode->set_kv_cache_bytes(cache_->Bytes());
    decode->set_head_parameter_count(HeadParameterCount(config_));
    // The step at the generation's mean context stands for all of them (cost grows linearly with the context).
    const int mean_step = std::max(1, new_tokens_ / 2);
    const int element_bytes = static_cast<int>(model_->transformer->parameters().front().element_size());
    decode->set_flops_per_step(new_tokens_ > 1 ? DecodeStepFlops(config_, batch_, Keys(mean_step), EncoderTokens())
                                               : 0);
    const double bytes =
        new_tokens_ > 1 ? DecodeStepBytes(config_, batch_, Keys(mean_step), element_bytes, EncoderTokens()) : 0;
    decode->set_bytes_per_step(bytes);
    decode->set_achieved_bytes_per_second(tpot_s > 0 ? bytes / tpot_s : 0);
    // tokens/s of a decode job is the decode rate, the figure users compare (prefill has TTFT); a one-token
    // generation has no step, and keeps the whole generation's rate.
    if (steps > 0) result->set_tokens_per_second(decode->decode_tokens_per_second());
  }

 private:
  // Decoder positions cached: the prompt and every new token (encoder-decoders: the start token instead).
  int64_t Capacity() const { return (seq2seq_ ? 1 : seq_len_) + new_tokens_; }
  // Keys step `step` (1-based) attends to: every cached position before it and its own.
  int64_t Keys(int step) const { return (seq2seq_ ? 1 : seq_len_) + step; }
  int64_t EncoderTokens() const { return seq2seq_ ? seq_len_ : 0; }
  int64_t HeadWidth() const { return model_->transformer->OutputWidth(); }

  const ModelConfig& config_;
  MeasuredModel* model_;
  const int64_t seed_;
  const int batch_, seq_len_, new_tokens_;
  const bool seq2seq_;
  torch::Device device_{torch::kCPU};
  torch::Tensor prompt_, start_;
  std::unique_ptr<KvCache> cache_;
  std::vector<double> ttft_ms_, step_ms_;
  std::vector<int32_t> step_positions_;
};

}  // namespace

std::unique_ptr<Workload> MakeDecodeWorkload(const v1::JobSpec& job, const ModelConfig& config, MeasuredModel* model) {
  return std::make_unique<DecodeWorkload>(job, config, model);
}

}  // namespace tscale
