#include "runner/checkpoint.h"

#include <memory>
#include <utility>

#include "runner/autocast.h"

namespace tscale {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The function to run again, carried through the autograd context (its saved_data holds IValues).
struct FnCapsule : torch::CustomClassHolder {
  explicit FnCapsule(CheckpointedFn f) : fn(std::move(f)) {}
  CheckpointedFn fn;
};

at::Generator GeneratorOf(const torch::Tensor& x) {
  return at::globalContext().defaultGenerator(x.device());
}

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // memory is optional: an undefined tensor is not a variable input to autograd.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const c10::optional<torch::Tensor>& memory,
                               c10::intrusive_ptr<FnCapsule> capsule) {
    {
      auto generator = GeneratorOf(x);
      std::lock_guard<std::mutex> lock(generator.mutex());
      ctx->saved_data["rng"] = generator.get_state();
    }
    ctx->saved_data["autocast"] = CurrentAutocast(x.device()).enabled;
    ctx->saved_data["fn"] = c10::IValue::make_capsule(capsule);
    const torch::Tensor mem = memory.has_value() ? *memory : torch::Tensor();
    ctx->save_for_backward({x, mem});
    return capsule->fn(x, mem);  // autograd is off inside a custom function's forward
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor x = saved[0].detach().requires_grad_(saved[0].requires_grad());
    const bool has_memory = saved[1].defined();
    const torch::Tensor memory =
        has_memory ? saved[1].detach().requires_grad_(saved[1].requires_grad()) : torch::Tensor();
    auto capsule = ctx->saved_data["fn"].toCapsule();
    auto* fn = static_cast<FnCapsule*>(capsule.get());

    torch::Tensor out;
    {
      // The forward's random state for the rerun, then the state backward had, so later draws are unaffected.
      auto generator = GeneratorOf(x);
      torch::Tensor before;
      {
        std::lock_guard<std::mutex> lock(generator.mutex());
        before = generator.get_state();
        generator.set_state(ctx->saved_data["rng"].toTensor());
      }
      torch::AutoGradMode grad(true);
      AutocastScope autocast(x.device(), ctx->saved_data["autocast"].toBool());
      out = fn->fn(x, memory);
      std::lock_guard<std::mutex> lock(generator.mutex());
      generator.set_state(before);
    }
    // Every leaf the rerun reached gets its gradient accumulated: the parameters, as in any backward, and the
    // detached x and memory, whose gradients are handed on.
    torch::autograd::backward({out}, {grad_outputs[0]});
    return {x.requires_grad() ? x.grad() : torch::Tensor(),
            has_memory && memory.requires_grad() ? memory.grad() : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor Checkpointed(CheckpointedFn fn, const torch::Tensor& x, const torch::Tensor& memory) {
  if (!torch::GradMode::is_enabled()) return fn(x, memory);
  const c10::optional<torch::Tensor> mem = memory.defined() ? c10::optional<torch::Tensor>(memory) : c10::nullopt;
  return CheckpointFunction::apply(x, mem, c10::make_intrusive<FnCapsule>(std::move(fn)));
}

}  // namespace tscale
