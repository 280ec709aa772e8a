#pragma once
// How far a call raises this process's resident set: Linux keeps the peak (VmHWM in
// /proc/self/status) and resets it to the current size when 5 is written to
// /proc/self/clear_refs. Elsewhere the figures are NaN.

#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>

namespace bench {

/// VmRSS or VmHWM of this process in bytes, or NaN.
inline double resident_bytes(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(field);
  while (std::getline(status, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::stod(line.substr(n + 1)) * 1024.0;  // "  12345 kB"
  return std::numeric_limits<double>::quiet_NaN();
}

/// Bytes the resident set rose above its size before `call`, at its highest during it.
template <class F>
double peak_rise_bytes(F&& call) {
  std::ofstream reset("/proc/self/clear_refs");
  reset << "5" << std::flush;
  if (!reset) return std::numeric_limits<double>::quiet_NaN();
  const double before = resident_bytes("VmRSS");
  call();
  return resident_bytes("VmHWM") - before;
}

}  // namespace bench
