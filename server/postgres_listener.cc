// The PostgreSQL backend's change listener (server/postgres_connection.h): LISTEN on its own session, with
// reconnects and the polling fallback.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

#include "server/postgres_connection.h"
#include "server/postgres_session.h"

namespace tscale::sql {

struct ChangeListener::State {
  std::string uri;
  std::function<void(unsigned)> on_change;
  int stop_pipe[2] = {-1, -1};
  std::atomic<bool> stopped{false};
  std::atomic<int64_t> received{0};
};

ChangeListener::ChangeListener(std::string uri, std::function<void(unsigned)> on_change)
    : state_(std::make_unique<State>()) {
  state_->uri = std::move(uri);
  state_->on_change = std::move(on_change);
  if (pipe(state_->stop_pipe) != 0) state_->stop_pipe[0] = state_->stop_pipe[1] = -1;
}

ChangeListener::~ChangeListener() {
  for (int fd : state_->stop_pipe)
    if (fd >= 0) close(fd);
}

void ChangeListener::Stop() {
  state_->stopped = true;
  if (state_->stop_pipe[1] >= 0) (void)!write(state_->stop_pipe[1], "x", 1);
}

int64_t ChangeListener::received() const {
  return state_->received.load();
}

void ChangeListener::Run() {
  State& s = *state_;
  constexpr unsigned kEverything = kWorkQueued | kEventsAppended;
  PGconn* conn = nullptr;
  auto wait_for_stop = [&](int timeout_ms) {
    pollfd fd{s.stop_pipe[0], POLLIN, 0};
    return poll(&fd, 1, timeout_ms) > 0 || s.stopped;
  };
  while (!s.stopped) {
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
      PQfinish(conn);
      conn = ConnectPostgresql(s.uri);
      bool listening = PQstatus(conn) == CONNECTION_OK;
      if (listening) {
        PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
        PGresult* result =
            PQexec(conn, (std::string("SET application_name = 'tscale-listener'; LISTEN ") + kChangeChannel).c_str());
        listening = PQresultStatus(result) == PGRES_COMMAND_OK;
        PQclear(result);
      }
      // Whatever happened while nobody listened is unknown: wake every waiter to look (the polling fallback).
      s.on_change(kEverything);
      if (!listening) {
        PQfinish(conn);
        conn = nullptr;
        if (wait_for_stop(1000)) break;
        continue;
      }
    }
    pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {s.stop_pipe[0], POLLIN, 0}};
    const int ready = poll(fds, 2, 1000);
    if (s.stopped || (ready > 0 && (fds[1].revents & POLLIN))) break;
    if (ready < 0 && errno != EINTR) {
      if (wait_for_stop(1000)) break;
      continue;
    }
    if (ready > 0 && PQconsumeInput(conn) == 0) {
      PQfinish(conn);  // lost: reconnect on the next turn
      conn = nullptr;
      continue;
    }
    while (PGnotify* notify = PQnotifies(conn)) {
      const unsigned mask = static_cast<unsigned>(std::strtoul(notify->extra, nullptr, 10));
      PQfreemem(notify);
      s.received.fetch_add(1);
      s.on_change(mask == 0 ? kEverything : mask);
    }
  }
  PQfinish(conn);
}

}  // namespace tscale::sql
