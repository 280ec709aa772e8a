#pragma once
// Paths read from a file (a model.json's shard list) are untrusted: they must stay inside the
// model's directory. The text is checked first (relative, no "..", no root, no backslash, no
// NUL), then the path is resolved with every symbolic link followed, and the result must lie
// inside a root directory: by default the directory of the file that named it, so a link to
// /etc/passwd, or a directory link `sub -> /` used as `sub/etc/passwd`, is refused. A Hugging
// Face cache keeps a snapshot's files as links to ../../blobs/: for a file inside
// `<repo>/snapshots/<revision>/` where <repo>'s name starts with "models--", the root is <repo>.
// A caller may name another root (load_options::symlink_root).
//
// The check assumes nobody changes the directory tree while the file is being loaded: it
// defends against a hostile file, not against a hostile process on the same machine.

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>
#include <typeformer/io/quoted_text.hpp>

namespace typeformer::io {

/// Why `path` (as written in a file) is not a relative path that stays below its directory, or
/// nullopt when it is one.
inline std::optional<std::string> relative_path_problem(std::string_view path) {
  if (path.empty()) return "is empty";
  if (path.find('\0') != std::string_view::npos) return "holds a NUL byte";
  if (path.find('\\') != std::string_view::npos) return "holds a backslash";
  const std::filesystem::path p{std::string(path)};
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory()) return "is absolute";
  for (const auto& part : p)
    if (part == "..") return "climbs out with \"..\"";
  return std::nullopt;
}

/// Whether `inner` is `outer` or below it; both are canonical.
inline bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty() && std::next(o) == outer.end()) break;  // a trailing separator
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

/// The root that shards named by the file at `file` may resolve into, unless the caller names
/// one: the Hugging Face repository folder for a file in `models--*/snapshots/<revision>/`,
/// otherwise the file's directory.
inline std::filesystem::path default_symlink_root(const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::path directory = std::filesystem::absolute(file, ec).lexically_normal();
  if (ec) directory = file;
  directory = directory.parent_path();
  const std::filesystem::path snapshots = directory.parent_path();
  const std::filesystem::path repository = snapshots.parent_path();
  if (snapshots.filename() == "snapshots" && repository.filename().string().starts_with("models--"))
    return repository;
  return directory;
}

/// `relative` (read from a file, already free of relative_path_problem) resolved against
/// `directory`, every symbolic link followed; refused unless the result lies inside `root`.
/// `where` starts each message; `what` names the path in it (`shard "w.bin"`).
inline std::filesystem::path resolve_inside(const std::filesystem::path& directory,
                                            std::string_view relative,
                                            const std::filesystem::path& root,
                                            const std::string& where, const std::string& what) {
  using typeformer::detail::concat;
  std::error_code ec;
  const std::filesystem::path lexical = directory / std::filesystem::path(std::string(relative));
  const std::filesystem::path target = std::filesystem::canonical(lexical, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory)
      throw format_error(
          concat(where, what, ": no such file (", detail::quote_name(lexical.string(), 4096), ")"));
    throw format_error(concat(where, what, ": cannot resolve ",
                              detail::quote_name(lexical.string(), 4096), " (", ec.message(), ")"));
  }
  const std::filesystem::path trusted = std::filesystem::canonical(root, ec);
  if (ec)
    throw format_error(concat(where, "the symlink root ", detail::quote_name(root.string(), 4096),
                              " cannot be resolved (", ec.message(), ")"));
  if (!is_within(target, trusted))
    throw format_error(concat(where, what, " resolves to ",
                              detail::quote_name(target.string(), 4096), ", outside ",
                              detail::quote_name(trusted.string(), 4096),
                              " (a symbolic link leaves the model's directory; name a wider "
                              "root with load_options::symlink_root if that is intended)"));
  return target;
}

}  // namespace typeformer::io
