// A small CRI client for the tests: kubelet's RuntimeService calls (tests/cri/cri_subset.proto)
// over a runtime's unix socket, each with a deadline so a runtime that hangs fails the test
// instead of holding the suite until its timeout.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "cri_subset.grpc.pb.h"

namespace lxbox::test {

class CriClient {
public:
    // socket: the runtime's unix socket path (containerd's grpc address).
    explicit CriClient(const std::string& socket);

    // One unary call: Stub::Version, Stub::RunPodSandbox, ... with its request; the response
    // is filled when the status is ok.
    template <class Request, class Response>
    grpc::Status call(grpc::Status (runtime::v1::RuntimeService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                                                 Response*),
                      const Request& request, Response* response,
                      std::chrono::seconds deadline = std::chrono::seconds(60)) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + deadline);
        return ((*runtime_).*method)(&context, request, response);
    }
    // ImageService's ImageStatus (an image the runtime does not know has no id).
    grpc::Status image_status(const std::string& image, runtime::v1::ImageStatusResponse* response);

private:
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<runtime::v1::RuntimeService::Stub> runtime_;
    std::unique_ptr<runtime::v1::ImageService::Stub> images_;
};

// "CODE: message" of a failed call, for a test's failure text.
std::string describe(const grpc::Status& status);

}  // namespace lxbox::test
