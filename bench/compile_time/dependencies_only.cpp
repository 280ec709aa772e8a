// The dependencies' headers alone (what the umbrella header pulls in from xtensor, xsimd and
// nlohmann-json), the baseline the umbrella header's cost is measured against.
#include <nlohmann/json.hpp>
#include <xsimd/xsimd.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

int main() { return 0; }
