#pragma once
// Reading reference tensors from the golden safetensors files and comparing with them.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include <typeformer/io/safetensors.hpp>

namespace golden_data {

/// A golden file, the JSON of its "config" metadata and the tolerances it states there.
struct golden_file {
  typeformer::io::safetensors_file file;
  nlohmann::json config;
  double atol, rtol;

  explicit golden_file(const std::string& path)
      : file(typeformer::io::safetensors_file::open(path)),
        config(nlohmann::json::parse(file.metadata().at("config"))),
        atol(config.at("atol").get<double>()),
        rtol(config.at("rtol").get<double>()) {}
};

/// A rank-3 float tensor of the file.
inline xt::xtensor<float, 3> floats3(const typeformer::io::safetensors_file& file,
                                     const std::string& name) {
  const auto* info = file.find(name);
  REQUIRE(info);
  REQUIRE(info->shape.size() == 3);
  xt::xtensor<float, 3> t = xt::empty<float>(
      {std::size_t(info->shape[0]), std::size_t(info->shape[1]), std::size_t(info->shape[2])});
  const auto values = file.read_floats(name);
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

/// A rank-2 float tensor of the file.
inline xt::xtensor<float, 2> floats2(const typeformer::io::safetensors_file& file,
                                     const std::string& name) {
  const auto* info = file.find(name);
  REQUIRE(info);
  REQUIRE(info->shape.size() == 2);
  xt::xtensor<float, 2> t =
      xt::empty<float>({std::size_t(info->shape[0]), std::size_t(info->shape[1])});
  const auto values = file.read_floats(name);
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

/// A rank-2 tensor of 0/1 mask bytes of the file.
inline xt::xtensor<std::uint8_t, 2> mask2(const typeformer::io::safetensors_file& file,
                                          const std::string& name) {
  const auto* info = file.find(name);
  REQUIRE(info);
  REQUIRE(info->shape.size() == 2);
  xt::xtensor<std::uint8_t, 2> t =
      xt::empty<std::uint8_t>({std::size_t(info->shape[0]), std::size_t(info->shape[1])});
  const auto values = file.read_integers(name);
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

/// |ours − reference| <= atol + rtol·|reference| everywhere, with the file's stated tolerances.
inline void require_close(const typeformer::io::safetensors_file& file, const float* ours,
                          const std::string& reference_name = "golden.output") {
  const auto config = nlohmann::json::parse(file.metadata().at("config"));
  const double atol = config.at("atol"), rtol = config.at("rtol");
  const auto reference = file.read_floats(reference_name);
  for (std::size_t i = 0; i < reference.size(); ++i) {
    INFO(reference_name << " element " << i);
    REQUIRE(std::fabs(ours[i] - reference[i]) <= atol + rtol * std::fabs(reference[i]));
  }
}

}  // namespace golden_data
