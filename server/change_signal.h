// ChangeSignal lets waiting calls (long-polling claims, watch streams) sleep until something they care about
// may have changed, instead of polling the database, and wakes them all at shutdown.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace tscale {

class ChangeSignal {
 public:
  // Wakes every waiter.
  void Notify() {
    {
      std::lock_guard lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }
  void Shutdown() {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
  }
  bool shutting_down() {
    std::lock_guard lock(mu_);
    return shutdown_;
  }
  uint64_t generation() {
    std::lock_guard lock(mu_);
    return generation_;
  }
  // Returns true when woken by Notify after `seen_generation`; false on timeout or shutdown.
  bool WaitFor(uint64_t seen_generation, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return shutdown_ || generation_ != seen_generation; }) && !shutdown_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  bool shutdown_ = false;
};

}  // namespace tscale
