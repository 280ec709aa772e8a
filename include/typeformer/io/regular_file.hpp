#pragma once
// regular_file: a file opened for reading only when it is a regular file. Weight files,
// model.json, shards and manifests come from elsewhere, and a path can name a device
// (/dev/zero never ends), a FIFO (open() blocks until a writer comes) or a socket. The file is
// opened without blocking and refused unless fstat() says it is regular; its size is taken
// from the open descriptor, so the caller can check a size the file states against the size
// the file has before reading anything more.
//
// On POSIX systems the checks are on the descriptor itself (no race between the check and the
// read). Elsewhere the path is checked with std::filesystem before it is opened.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#if defined(_WIN32)
#include <fstream>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#endif

#include <typeformer/core/errors.hpp>
#include <typeformer/core/text.hpp>

namespace typeformer::io {

class regular_file {
 public:
  /// Which file, as far as the file system can tell: two paths naming one file (a hard link, a
  /// symlink) have the same identity.
  struct identity {
    std::uint64_t device = 0, inode = 0;
    friend bool operator==(const identity&, const identity&) = default;
  };

  /// Opens `path`. `where` starts every message (`safetensors "w.safetensors": `). With
  /// `follow_symlink` false, a path whose last component is a symbolic link is refused.
  static regular_file open(const std::filesystem::path& path, std::string where,
                           bool follow_symlink = true) {
    regular_file file(std::move(where));
#if defined(_WIN32)
    std::error_code ec;
    const auto status = follow_symlink ? std::filesystem::status(path, ec)
                                       : std::filesystem::symlink_status(path, ec);
    if (ec || !std::filesystem::exists(status)) file.fail("no such file");
    if (!std::filesystem::is_regular_file(status)) file.fail(kind_of(status.type()));
    file.stream_.open(path, std::ios::binary);
    if (!file.stream_) file.fail("cannot open the file for reading");
    file.size_ = static_cast<std::uint64_t>(std::filesystem::file_size(path, ec));
    if (ec) file.fail("cannot take the file's size");
#else
    // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; it changes
    // nothing for the regular files that pass the check below.
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (!follow_symlink) flags |= O_NOFOLLOW;
    do {
      file.fd_ = ::open(path.c_str(), flags);
    } while (file.fd_ < 0 && errno == EINTR);
    if (file.fd_ < 0) file.fail(open_error(errno, follow_symlink));
    struct stat info {};
    if (::fstat(file.fd_, &info) != 0) file.fail("cannot take the file's size");
    if (!S_ISREG(info.st_mode)) file.fail(kind_of(info.st_mode));
    file.size_ = static_cast<std::uint64_t>(info.st_size);
    file.identity_ = {static_cast<std::uint64_t>(info.st_dev),
                      static_cast<std::uint64_t>(info.st_ino)};
#endif
    return file;
  }

  regular_file(regular_file&& other) noexcept
      : where_(std::move(other.where_)),
        size_(other.size_),
        identity_(other.identity_)
#if defined(_WIN32)
        ,
        stream_(std::move(other.stream_))
#else
        ,
        fd_(std::exchange(other.fd_, -1))
#endif
  {
  }
  regular_file& operator=(regular_file&& other) noexcept {
    std::swap(where_, other.where_);
    std::swap(size_, other.size_);
    std::swap(identity_, other.identity_);
#if defined(_WIN32)
    std::swap(stream_, other.stream_);
#else
    std::swap(fd_, other.fd_);
#endif
    return *this;
  }
  regular_file(const regular_file&) = delete;
  regular_file& operator=(const regular_file&) = delete;
  ~regular_file() {
#if !defined(_WIN32)
    if (fd_ >= 0) ::close(fd_);
#endif
  }

  /// The size fstat() gave when the file was opened.
  std::uint64_t size() const noexcept { return size_; }
  identity id() const noexcept { return identity_; }
  const std::string& where() const noexcept { return where_; }

  /// Exactly `out.size()` bytes from `offset`; a file that has become shorter is a
  /// format_error, not a partial read.
  void read_at(std::uint64_t offset, std::span<std::byte> out) {
    std::size_t done = 0;
    while (done < out.size()) {
#if defined(_WIN32)
      stream_.seekg(static_cast<std::streamoff>(offset + done));
      stream_.read(reinterpret_cast<char*>(out.data() + done),
                   static_cast<std::streamsize>(out.size() - done));
      const auto got = static_cast<long long>(stream_.gcount());
      if (stream_.bad()) fail("read error");
      stream_.clear();
#else
      const ::ssize_t got =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<::off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0)
        fail(typeformer::detail::concat("read error (", std::generic_category().message(errno),
                                        ")"));
#endif
      if (got == 0)
        fail(typeformer::detail::concat(
            "the file ended at byte ", std::to_string(offset + done), " while reading it (",
            std::to_string(size_), " bytes when it was opened): it changed while it was read"));
      done += static_cast<std::size_t>(got);
    }
  }

  /// The whole file, sized by size(): refused when that is more than `limit` bytes.
  std::vector<std::byte> read_all(std::uint64_t limit) {
    if (size_ > limit)
      fail(typeformer::detail::concat("the file has ", std::to_string(size_),
                                      " bytes, more than the ", std::to_string(limit),
                                      " accepted"));
    std::vector<std::byte> bytes(static_cast<std::size_t>(size_));
    read_at(0, bytes);
    return bytes;
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw format_error(typeformer::detail::concat(where_, problem));
  }

 private:
  explicit regular_file(std::string where) : where_(std::move(where)) {}

  std::string where_;
  std::uint64_t size_ = 0;
  identity identity_{};
#if defined(_WIN32)
  std::ifstream stream_;

  static std::string kind_of(std::filesystem::file_type type) {
    switch (type) {
      case std::filesystem::file_type::directory:
        return "is a directory, not a regular file";
      case std::filesystem::file_type::symlink:
        return "is a symbolic link, which is not followed";
      default:
        return "is not a regular file (a device, a pipe or a socket)";
    }
  }
#else
  int fd_ = -1;

  static std::string kind_of(::mode_t mode) {
    const char* kind = S_ISDIR(mode) ? "a directory"
                       : S_ISCHR(mode) ? "a character device"
                       : S_ISBLK(mode) ? "a block device"
                       : S_ISFIFO(mode) ? "a FIFO (named pipe)"
                       : S_ISSOCK(mode) ? "a socket"
                                        : "not a regular file";
    return typeformer::detail::concat("is ", kind, ", not a regular file");
  }

  static std::string open_error(int error, bool follow_symlink) {
    switch (error) {
      case ENOENT:
        return "no such file";
      case ENOTDIR:
        return "no such file (a component of the path is not a directory)";
      case EACCES:
        return "permission denied";
      case ELOOP:
        return follow_symlink ? "too many levels of symbolic links"
                              : "is a symbolic link, which is not followed here";
      case ENXIO:
        return "is a socket or a device without a driver, not a regular file";
      default:
        return typeformer::detail::concat("cannot open the file for reading (",
                                          std::generic_category().message(error), ")");
    }
  }
#endif
};

}  // namespace typeformer::io
