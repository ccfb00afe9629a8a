#include "server/auth.h"

namespace tscale {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // The length is not secret enough to hide; the contents are.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Status Authenticator::Check(const grpc::ServerContext& context, Audience audience) const {
  const std::string& expected = audience == Audience::kClient ? client_token_ : worker_token_;
  if (expected.empty()) return Status::Ok();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return Status::Unauthenticated("missing bearer token (authorization metadata)");
  const std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kPrefix = "Bearer ";
  if (value.size() <= kPrefix.size() || value.substr(0, kPrefix.size()) != kPrefix)
    return Status::Unauthenticated("authorization metadata is not a bearer token");
  const std::string_view presented = value.substr(kPrefix.size());
  if (ConstantTimeEquals(presented, expected)) return Status::Ok();
  const std::string& other = audience == Audience::kClient ? worker_token_ : client_token_;
  if (!other.empty() && ConstantTimeEquals(presented, other))
    return Status::PermissionDenied(audience == Audience::kClient ? "a worker token cannot call the client service"
                                                                  : "a client token cannot call the worker service");
  return Status::Unauthenticated("unknown bearer token");
}

}  // namespace tscale
