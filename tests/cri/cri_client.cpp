#include "tests/cri/cri_client.hpp"

namespace lxbox::test {

CriClient::CriClient(const std::string& socket)
    : channel_(grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials())),
      runtime_(runtime::v1::RuntimeService::NewStub(channel_)),
      images_(runtime::v1::ImageService::NewStub(channel_)) {}

grpc::Status CriClient::image_status(const std::string& image, runtime::v1::ImageStatusResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    runtime::v1::ImageStatusRequest request;
    request.mutable_image()->set_image(image);
    return images_->ImageStatus(&context, request, response);
}

std::string describe(const grpc::Status& status) {
    return status.ok() ? "OK" : std::to_string(status.error_code()) + ": " + status.error_message();
}

}  // namespace lxbox::test
