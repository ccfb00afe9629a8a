// Counts the calls the coordinator is still serving, so that shutdown can end as soon as the last of them is
// done. grpc::Server::Shutdown(deadline) cannot: it returns only when every client connection is gone too, and
// since gRPC 1.50 a connection goes only once its client has acknowledged the GOAWAY's ping. A client with no
// call in progress reads its socket only every 5 s (its channel's backup poller) or never, so shutdown took up
// to the whole deadline with no call left at all (CoordinatorTest.ShutdownDoesNotHangOnOpenStreams).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include <grpcpp/server.h>
#include <grpcpp/support/server_interceptor.h>

namespace tscale {

class InFlightCalls {
 public:
  // For ServerBuilder::experimental().SetInterceptorCreators; `this` must outlive the server. Counted are the
  // calls that end by themselves once shutdown begins: unary calls, and server-streaming calls of tscale's own
  // services (WatchSweep returns UNAVAILABLE with its resume cursor). Not counted are calls that end only when
  // their client ends them (ReportMetrics, the reflection stream) or never (grpc.health.v1.Health/Watch): they
  // are cancelled at the end of shutdown, as the deadline would have.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

  // Blocks until no counted call is in progress or `deadline` passes; true in the first case.
  bool WaitUntilIdle(std::chrono::steady_clock::time_point deadline);

  // Whether a call of `method` (full name, "/package.Service/Method") of `type` is counted.
  static bool EndsByItself(const char* method, grpc::experimental::ServerRpcInfo::Type type);

 private:
  friend class CountingInterceptor;
  void Begin();
  void End();

  std::mutex mu_;
  std::condition_variable idle_;
  int in_flight_ = 0;
};

// Shuts `server` down: no new calls or connections from now on; the counted calls in progress get until
// `deadline` to finish; then every connection is closed and every remaining call cancelled at once. False when
// counted calls were still in progress at the deadline.
class ServerShutdown {
 public:
  static bool Run(grpc::Server& server, InFlightCalls& calls, std::chrono::steady_clock::time_point deadline);
};

}  // namespace tscale
