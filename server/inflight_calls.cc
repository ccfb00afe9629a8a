#include "server/inflight_calls.h"

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <grpcpp/server.h>

#include <cstring>

namespace tscale {

class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(InFlightCalls* calls) : calls_(calls) { calls_->Begin(); }
  // The interceptor lives as long as its call's ServerContext: until the handler has returned and the status
  // has been sent.
  ~CountingInterceptor() override { calls_->End(); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override { methods->Proceed(); }

 private:
  InFlightCalls* calls_;
};

namespace {

class CountingInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingInterceptorFactory(InFlightCalls* calls) : calls_(calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    if (!InFlightCalls::EndsByItself(info->method(), info->type())) return nullptr;
    return new CountingInterceptor(calls_);
  }

 private:
  InFlightCalls* calls_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InFlightCalls::InterceptorFactory() {
  return std::make_unique<CountingInterceptorFactory>(this);
}

bool InFlightCalls::EndsByItself(const char* method, grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  if (type == Type::UNARY) return true;
  return type == Type::SERVER_STREAMING && method != nullptr && std::strncmp(method, "/tscale.", 8) == 0;
}

void InFlightCalls::Begin() {
  std::lock_guard lock(mu_);
  ++in_flight_;
}

void InFlightCalls::End() {
  std::lock_guard lock(mu_);
  if (--in_flight_ == 0) idle_.notify_all();
}

bool InFlightCalls::WaitUntilIdle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return idle_.wait_until(lock, deadline, [&] { return in_flight_ == 0; });
}

bool ServerShutdown::Run(grpc::Server& server, InFlightCalls& calls, std::chrono::steady_clock::time_point deadline) {
  // 1. GOAWAY to every connection; no new call or connection is admitted. (grpc::Server::Shutdown does this
  //    too, and then waits for the connections to go as well as for the calls: see inflight_calls.h.)
  //    The notification goes to a core completion queue: grpc::CompletionQueue would take the tag for one of its
  //    own kind.
  grpc_completion_queue* shutdown_cq = grpc_completion_queue_create_for_next(nullptr);
  int tag = 0;
  grpc_server_shutdown_and_notify(server.c_server(), shutdown_cq, &tag);
  // 2. The calls in progress finish, until the deadline at the latest.
  const bool idle = calls.WaitUntilIdle(deadline);
  // 3. Nothing left worth waiting for: close every connection, cancelling the calls that are still open.
  grpc_server_cancel_all_calls(server.c_server());
  // 4. Completes at once now (the shutdown is idempotent); stops and joins the server's threads.
  server.Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  grpc_completion_queue_shutdown(shutdown_cq);
  while (grpc_completion_queue_next(shutdown_cq, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(shutdown_cq);
  return idle;
}

}  // namespace tscale
