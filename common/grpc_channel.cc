#include "common/grpc_channel.h"

#include <cstdlib>

#include "common/file_io.h"

namespace tscale {

StatusOr<std::string> ReadSecretFile(const std::string& path) {
  auto text = ReadWholeFile(path, size_t{1} << 20);  // a token or a PEM bundle
  if (!text.ok())
    return text.status().code() == Status::Code::kNotFound ? Status::NotFound("cannot read " + path) : text.status();
  std::string value = std::move(text).value();
  const char* ws = " \t\r\n";
  value.erase(0, value.find_first_not_of(ws) == std::string::npos ? value.size() : value.find_first_not_of(ws));
  value.erase(value.find_last_not_of(ws) + 1);
  if (value.empty()) return Status::InvalidArgument(path + " is empty");
  if (value.size() > 64 * 1024) return Status::InvalidArgument(path + " is larger than 64 KiB");
  return value;
}

StatusOr<std::string> LoadToken(const std::string& file, const char* env_var) {
  if (!file.empty()) return ReadSecretFile(file);
  const char* value = std::getenv(env_var);
  return std::string(value ? value : "");
}

StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca_file.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    auto roots = ReadSecretFile(options.tls_ca_file);
    if (!roots.ok()) return Status::InvalidArgument("TLS CA file: " + roots.status().message());
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *roots;
    credentials = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(options.address, credentials, args);
}

void AddBearerToken(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

}  // namespace tscale
