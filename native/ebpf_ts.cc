// ebpf-ts native syscall seam.
//
// This addon is deliberately dumb: it makes system calls and lends memory to the kernel, and
// knows nothing about what bpf() attrs mean. Everything that understands BPF lives in
// TypeScript (src/sys). The contract, mirrored by src/sys/backend.ts:
//
//   * every syscall wrapper returns the non-negative result or -errno, never throws for a
//     kernel error, so the errno-to-error mapping lives in one TypeScript module and the hot
//     path (map lookup/update) allocates no exception objects;
//   * misuse by the caller (wrong argument types, out-of-bounds offsets) is a programming
//     error and throws a TypeError/RangeError;
//   * the module is context-aware: every piece of JS-visible state lives in per-environment
//     instance data (Napi::Addon), so it loads in worker_threads and Electron renderers alike.
//
// Built without C++ exceptions (NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS): errors are pending
// JS exceptions and every entry point returns early after raising one. That keeps the hot
// path free of unwinding tables and matches the "no throw for kernel errors" convention.

#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sched.h>
#include <unistd.h>

// GCC >= 11 makes every `new T[n]` (node-addon-api's CallbackInfo has one) reference
// std::__throw_bad_array_new_length, which only libstdc++ >= GCC 11 (GLIBCXX_3.4.29) exports.
// Defining it here keeps the prebuilt binaries loadable on older distributions (Ubuntu 20.04,
// RHEL 8: the ones Node 20 itself supports). Built without exceptions, aborting is what a throw
// would have amounted to anyway. (Linking libstdc++ statically instead drags in newer glibc
// symbol versions, which is worse.)
namespace std {
[[noreturn]] void __throw_bad_array_new_length() { std::abort(); }
}  // namespace std

namespace {

// Positional pointer pairs accepted by bpf()/perfEventOpen() before falling back to an array.
// Map lookup/update use two pairs; batch ops use up to four; eight leaves headroom.
constexpr size_t kMaxPositionalPairs = 8;

// ---------------------------------------------------------------------------------------------
// Argument helpers. They raise a JS exception and return false on misuse; callers bail out.

bool ThrowType(napi_env env, const char* msg) {
  napi_throw_type_error(env, nullptr, msg);
  return false;
}

bool ThrowRange(napi_env env, const char* msg) {
  napi_throw_range_error(env, nullptr, msg);
  return false;
}

// Data pointer and byte length of any TypedArray (Uint8Array, Buffer, ...). For small typed
// arrays that V8 keeps on its heap, napi_get_typedarray_info moves the bytes to a stable
// off-heap backing store first, so the address stays valid for the duration of the syscall
// (no JS runs, hence no GC, between here and the kernel returning).
bool TypedArrayBytes(napi_env env, napi_value v, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  size_t length;
  void* ptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, nullptr, nullptr) != napi_ok) {
    return ThrowType(env, "expected a Uint8Array");
  }
  size_t elem = 1;
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      elem = 2;
      break;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      elem = 4;
      break;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      elem = 8;
      break;
    default:
      break;
  }
  *data = static_cast<uint8_t*>(ptr);
  *len = length * elem;
  return true;
}

bool Int64Arg(napi_env env, napi_value v, int64_t* out) {
  if (napi_get_value_int64(env, v, out) != napi_ok) return ThrowType(env, "expected a number");
  return true;
}

bool Int32Arg(napi_env env, napi_value v, int32_t* out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) return ThrowType(env, "expected a number");
  return true;
}

bool BigUint64Arg(napi_env env, napi_value v, uint64_t* out) {
  bool lossless;
  if (napi_get_value_bigint_uint64(env, v, out, &lossless) != napi_ok) {
    return ThrowType(env, "expected a bigint");
  }
  if (!lossless) return ThrowRange(env, "bigint does not fit in 64 unsigned bits");
  return true;
}

// Writes one buffer address (or 0 for null/undefined) as a native-endian u64 at attr[off].
// memcpy rather than a store through uint64_t*: attr offsets are 8-aligned in every UAPI
// struct we know, but the Uint8Array itself may start anywhere.
//
// An offset may reach past the attr's byteLength into the rest of its ArrayBuffer: a struct
// the attr points to (bpf_prog_info and its map_ids array, say) can sit right after the attr
// in one allocation and have its own pointer fields patched in the same call. Only the attr's
// byteLength is passed to the kernel as the size.
struct AttrRef {
  napi_value value;
  uint8_t* data;
  size_t length;  // attr.byteLength
  size_t extent;  // bytes from data to the end of the ArrayBuffer; 0 until first needed
};

size_t AttrExtent(napi_env env, AttrRef* a) {
  if (a->extent != 0) return a->extent;
  napi_value ab;
  size_t byte_offset = 0, ab_len = 0;
  void* ab_data;
  a->extent = a->length;
  if (napi_get_typedarray_info(env, a->value, nullptr, nullptr, nullptr, &ab, &byte_offset) ==
          napi_ok &&
      napi_get_arraybuffer_info(env, ab, &ab_data, &ab_len) == napi_ok &&
      ab_len >= byte_offset) {
    a->extent = ab_len - byte_offset;
  }
  return a->extent;
}

bool PatchPointer(napi_env env, AttrRef* a, napi_value off_v, napi_value buf_v) {
  uint32_t off;
  if (napi_get_value_uint32(env, off_v, &off) != napi_ok) {
    return ThrowType(env, "pointer offset must be a number");
  }
  if (static_cast<size_t>(off) + 8 > a->length &&
      static_cast<size_t>(off) + 8 > AttrExtent(env, a)) {
    return ThrowRange(env, "pointer offset outside the attr's ArrayBuffer");
  }
  uint8_t* attr = a->data;
  napi_valuetype t;
  napi_typeof(env, buf_v, &t);
  uint64_t addr = 0;
  if (t != napi_null && t != napi_undefined) {
    uint8_t* data;
    size_t len;
    if (!TypedArrayBytes(env, buf_v, &data, &len)) return false;
    addr = reinterpret_cast<uintptr_t>(data);
  }
  std::memcpy(attr + off, &addr, sizeof addr);
  return true;
}

// Patches pointers given either as trailing positional pairs (argv[first..argc)) or, when a
// single array follows, as a flat [off, buf, off, buf, ...] array. Positional pairs avoid one
// napi_get_element per item, which dominated the cost of a map lookup in measurements.
bool PatchPointers(napi_env env, napi_value attr_v, uint8_t* attr, size_t attr_len,
                   napi_value* argv, size_t first, size_t argc) {
  AttrRef a{attr_v, attr, attr_len, 0};
  if (argc <= first) return true;
  if (argc == first + 1) {
    napi_valuetype t;
    napi_typeof(env, argv[first], &t);
    if (t == napi_undefined || t == napi_null) return true;
    bool is_array = false;
    napi_is_array(env, argv[first], &is_array);
    if (!is_array) return ThrowType(env, "pointers must be an array or positional pairs");
    uint32_t n;
    napi_get_array_length(env, argv[first], &n);
    if (n % 2 != 0) return ThrowType(env, "pointer list needs [offset, buffer] pairs");
    for (uint32_t i = 0; i < n; i += 2) {
      napi_value off_v, buf_v;
      napi_get_element(env, argv[first], i, &off_v);
      napi_get_element(env, argv[first], i + 1, &buf_v);
      if (!PatchPointer(env, &a, off_v, buf_v)) return false;
    }
    return true;
  }
  if ((argc - first) % 2 != 0) return ThrowType(env, "pointer arguments must come in pairs");
  for (size_t i = first; i < argc; i += 2) {
    if (!PatchPointer(env, &a, argv[i], argv[i + 1])) return false;
  }
  return true;
}

napi_value Int(napi_env env, int64_t v) {
  napi_value r;
  if (v >= INT32_MIN && v <= INT32_MAX) {
    napi_create_int32(env, static_cast<int32_t>(v), &r);
  } else {
    napi_create_int64(env, v, &r);
  }
  return r;
}

// Result of a libc call that returns -1/errno on failure, in the seam's convention.
inline int64_t Result(long rc) { return rc < 0 ? -static_cast<int64_t>(errno) : rc; }

// ---------------------------------------------------------------------------------------------
// Memory mappings.
//
// The ArrayBuffer is "external": it aliases the mapped pages, so the JS side sees what the
// kernel writes. The MappingRecord is the finalizer hint; `unmapped` stops the finalizer from
// unmapping an address range that munmap() already released and the kernel may have reused
// for another mapping.

struct MappingRecord {
  void* addr;
  size_t length;
  bool unmapped;
};

void FinalizeMapping(napi_env /*env*/, void* /*data*/, void* hint) {
  auto* rec = static_cast<MappingRecord*>(hint);
  if (!rec->unmapped) munmap(rec->addr, rec->length);
  delete rec;
}

// ---------------------------------------------------------------------------------------------
// fd readiness watchers.
//
// A uv_poll_t on the environment's own loop: no thread, no busy polling. The watched fd is
// dup'ed so that (a) the caller closing its fd while we still poll cannot leave epoll watching
// a stale file (libuv forbids closing a polled fd), and (b) two watchers on the same fd do not
// collide in libuv's per-fd watcher table.
//
// A watcher of several fds (watchAny) polls a private epoll instance holding them all, the way
// libbpf's perf_buffer keeps its per-CPU rings in one epoll set: libuv sees one fd, and the
// callback runs once per wake-up however many members are ready, not once per ready fd (each
// a trip through napi_make_callback into JS). The instance is the watcher's own fd, so (a) and
// (b) hold without dup'ing the members: an epoll set holds files, not fd numbers, and drops a
// file by itself when the file is released (eventpoll_release()).

// bpf(cmd, attr[, off, buf]...)  or  bpf(cmd, attr, [off, buf, ...])
napi_value Bpf(napi_env env, napi_callback_info cbinfo) {
  napi_value argv[2 + 2 * kMaxPositionalPairs];
  size_t argc = std::size(argv);
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  if (argc < 2) {
    ThrowType(env, "bpf(cmd, attr, ...pointers)");
    return nullptr;
  }
  if (argc > std::size(argv)) {
    ThrowRange(env, "too many pointer arguments: pass an array instead");
    return nullptr;
  }
  int32_t cmd;
  if (!Int32Arg(env, argv[0], &cmd)) return nullptr;
  uint8_t* attr;
  size_t attr_len;
  if (!TypedArrayBytes(env, argv[1], &attr, &attr_len)) return nullptr;
  if (!PatchPointers(env, argv[1], attr, attr_len, argv, 2, argc)) return nullptr;
  long rc = syscall(__NR_bpf, cmd, attr, static_cast<unsigned int>(attr_len));
  return Int(env, Result(rc));
}

// patchPointers(attr[, off, buf]...): writes the buffers' addresses into the attr and makes
// no system call. For attrs that are reused call after call (a map's element request): V8
// never moves an ArrayBuffer's backing store once it is off-heap, so the addresses stay valid
// while the buffers live, and each later bpf(cmd, attr) skips the per-pointer work.
napi_value PatchPointersOnly(napi_env env, napi_callback_info cbinfo) {
  napi_value argv[1 + 2 * kMaxPositionalPairs];
  size_t argc = std::size(argv);
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  if (argc < 1 || argc > std::size(argv)) {
    ThrowType(env, "patchPointers(attr, ...pointers)");
    return nullptr;
  }
  uint8_t* attr;
  size_t attr_len;
  if (!TypedArrayBytes(env, argv[0], &attr, &attr_len)) return nullptr;
  if (!PatchPointers(env, argv[0], attr, attr_len, argv, 1, argc)) return nullptr;
  return Int(env, 0);
}

// prepared(attr[, off, buf]...): patches the pointers once (as patchPointers does) and returns
// a function f(cmd) doing bpf(cmd, attr, attr.byteLength). The attr's address and size live in
// the function's data, so a call skips napi_get_typedarray_info and the JS closure the seam
// would otherwise wrap around bpf(): a map element op is then one argument read and a syscall.
// The function holds a strong reference to the attr (its bytes must outlive it); the pointed-to
// buffers are the caller's to keep alive, as with patchPointers.
struct PreparedAttr {
  uint8_t* attr;
  unsigned int length;
  napi_ref ref;
  int cmd;  // preparedCmd() only
};

napi_value CallPrepared(napi_env env, napi_callback_info cbinfo) {
  napi_value argv[1];
  size_t argc = 1;
  void* data;
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  int32_t cmd;
  if (argc < 1 || !Int32Arg(env, argv[0], &cmd)) return nullptr;
  auto* p = static_cast<PreparedAttr*>(data);
  long rc = syscall(__NR_bpf, cmd, p->attr, p->length);
  return Int(env, Result(rc));
}

void FinalizePrepared(napi_env env, void* data, void* /*hint*/) {
  auto* p = static_cast<PreparedAttr*>(data);
  napi_delete_reference(env, p->ref);
  delete p;
}

// Patches the pointers of argv[first] (the attr) and wraps it in a function calling `call`.
napi_value MakePrepared(napi_env env, napi_value* argv, size_t first, size_t argc, int cmd,
                        napi_callback call, const char* name) {
  uint8_t* attr;
  size_t attr_len;
  if (!TypedArrayBytes(env, argv[first], &attr, &attr_len)) return nullptr;
  if (!PatchPointers(env, argv[first], attr, attr_len, argv, first + 1, argc)) return nullptr;
  auto* p = new PreparedAttr{attr, static_cast<unsigned int>(attr_len), nullptr, cmd};
  napi_value fn;
  if (napi_create_reference(env, argv[first], 1, &p->ref) != napi_ok ||
      napi_create_function(env, name, NAPI_AUTO_LENGTH, call, p, &fn) != napi_ok ||
      napi_add_finalizer(env, fn, p, FinalizePrepared, nullptr, nullptr) != napi_ok) {
    if (p->ref != nullptr) napi_delete_reference(env, p->ref);
    delete p;
    ThrowType(env, "prepared: cannot create the call");
    return nullptr;
  }
  return fn;
}

napi_value Prepared(napi_env env, napi_callback_info cbinfo) {
  napi_value argv[1 + 2 * kMaxPositionalPairs];
  size_t argc = std::size(argv);
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  if (argc < 1 || argc > std::size(argv)) {
    ThrowType(env, "prepared(attr, ...pointers)");
    return nullptr;
  }
  return MakePrepared(env, argv, 0, argc, 0, CallPrepared, "preparedBpf");
}

// preparedCmd(cmd, attr[, off, buf]...) (ABI 6): as prepared(), with the command fixed too, so
// the call f() reads no argument, and returns undefined when bpf() returned 0 (else the result
// or -errno): a successful map element op makes no N-API call but napi_get_cb_info, which
// measurably shortens the call on large maps, whose hash walk is bound by cache and TLB misses.
napi_value CallPreparedCmd(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 0;
  void* data;
  napi_get_cb_info(env, cbinfo, &argc, nullptr, nullptr, &data);
  auto* p = static_cast<PreparedAttr*>(data);
  long rc = syscall(__NR_bpf, p->cmd, p->attr, p->length);
  if (rc == 0) return nullptr;
  return Int(env, Result(rc));
}

napi_value PreparedCmd(napi_env env, napi_callback_info cbinfo) {
  napi_value argv[2 + 2 * kMaxPositionalPairs];
  size_t argc = std::size(argv);
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  int32_t cmd;
  if (argc < 2 || argc > std::size(argv)) {
    ThrowType(env, "preparedCmd(cmd, attr, ...pointers)");
    return nullptr;
  }
  if (!Int32Arg(env, argv[0], &cmd)) return nullptr;
  return MakePrepared(env, argv, 1, argc, cmd, CallPreparedCmd, "preparedBpfCmd");
}

// elemMany(cmd, attr, keys, keyStride, values, valueStride, n, results, tolerated): n element
// operations in one call into the addon. Before call i the attr's key field (offset 8, shared
// by every BPF_MAP_*_ELEM command) gets keys + i*keyStride and its value field (offset 16)
// values + i*valueStride, or 0 when values is null (not written when the attr is 16 bytes,
// BPF_MAP_DELETE_ELEM's); results[i] gets the result or -errno.
// Stops after the first result that is neither 0 nor -tolerated (tolerated 0: any error
// stops), like the kernel's batch ops stop at the first failing element. Returns how many
// calls were made.
napi_value ElemMany(napi_env env, napi_callback_info cbinfo) {
  napi_value argv[9];
  size_t argc = std::size(argv);
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  if (argc < 9) {
    ThrowType(env, "elemMany(cmd, attr, keys, keyStride, values, valueStride, n, results, tolerated)");
    return nullptr;
  }
  int32_t cmd, key_stride, value_stride, n, tolerated;
  if (!Int32Arg(env, argv[0], &cmd) || !Int32Arg(env, argv[3], &key_stride) ||
      !Int32Arg(env, argv[5], &value_stride) || !Int32Arg(env, argv[6], &n) ||
      !Int32Arg(env, argv[8], &tolerated)) {
    return nullptr;
  }
  uint8_t *attr, *keys, *values = nullptr, *results;
  size_t attr_len, keys_len, values_len = 0, results_len;
  if (!TypedArrayBytes(env, argv[1], &attr, &attr_len) ||
      !TypedArrayBytes(env, argv[2], &keys, &keys_len) ||
      !TypedArrayBytes(env, argv[7], &results, &results_len)) {
    return nullptr;
  }
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (t != napi_null && t != napi_undefined && !TypedArrayBytes(env, argv[4], &values, &values_len)) {
    return nullptr;
  }
  if (n < 0 || key_stride < 0 || value_stride < 0 || attr_len < 16 || (values != nullptr && attr_len < 24) ||
      static_cast<size_t>(n) * static_cast<size_t>(key_stride) > keys_len ||
      (values != nullptr && static_cast<size_t>(n) * static_cast<size_t>(value_stride) > values_len) ||
      static_cast<size_t>(n) * sizeof(int32_t) > results_len) {
    ThrowRange(env, "elemMany: buffers too small for n elements");
    return nullptr;
  }
  int32_t done = 0;
  while (done < n) {
    uint64_t k = reinterpret_cast<uintptr_t>(keys + static_cast<size_t>(done) * key_stride);
    uint64_t v = values == nullptr ? 0 : reinterpret_cast<uintptr_t>(values + static_cast<size_t>(done) * value_stride);
    std::memcpy(attr + 8, &k, sizeof k);
    if (attr_len >= 24) std::memcpy(attr + 16, &v, sizeof v);  // delete's attr ends at the key
    long rc = syscall(__NR_bpf, cmd, attr, static_cast<unsigned int>(attr_len));
    int32_t r = rc < 0 ? -errno : static_cast<int32_t>(rc);
    std::memcpy(results + static_cast<size_t>(done) * sizeof r, &r, sizeof r);
    done++;
    if (r != 0 && r != -tolerated) break;
  }
  return Int(env, done);
}

class Addon;

struct WatchState {
  Addon* addon;
  uint32_t id;
  int fd;  // ours: a dup of the watched fd, or watchAny's epoll instance
  napi_env env;
  napi_ref callback;
  napi_async_context async_context;
  napi_async_cleanup_hook_handle cleanup;
  uv_poll_t handle;
  bool closing;
};

int ToUvEvents(int32_t events) {
  int uv = 0;
  if (events & POLLIN) uv |= UV_READABLE;
  if (events & POLLOUT) uv |= UV_WRITABLE;
  if (events & POLLPRI) uv |= UV_PRIORITIZED;
#ifdef POLLRDHUP
  if (events & POLLRDHUP) uv |= UV_DISCONNECT;
#endif
  return uv;
}

int FromUvEvents(int status, int uv) {
  int ev = 0;
  if (status < 0) ev |= POLLERR;
  if (uv & UV_READABLE) ev |= POLLIN;
  if (uv & UV_WRITABLE) ev |= POLLOUT;
  if (uv & UV_PRIORITIZED) ev |= POLLPRI;
  if (uv & UV_DISCONNECT) ev |= POLLHUP;
  return ev;
}

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("perfEventOpen", &Addon::PerfEventOpen),
        InstanceMethod("ioctl", &Addon::Ioctl),
        InstanceMethod("close", &Addon::Close),
        InstanceMethod("dupAbove", &Addon::DupAbove),
        InstanceMethod("getrlimit", &Addon::Getrlimit),
        InstanceMethod("setrlimit", &Addon::Setrlimit),
        InstanceMethod("mmap", &Addon::Mmap),
        InstanceMethod("munmap", &Addon::Munmap),
        InstanceMethod("loadAcquire64", &Addon::LoadAcquire64),
        InstanceMethod("loadAcquire32", &Addon::LoadAcquire32),
        InstanceMethod("storeRelease64", &Addon::StoreRelease64),
        InstanceMethod("watch", &Addon::Watch),
        InstanceMethod("watchAny", &Addon::WatchAny),
        InstanceMethod("unwatch", &Addon::Unwatch),
        InstanceMethod("refWatch", &Addon::RefWatch),
        InstanceMethod("activeWatchers", &Addon::ActiveWatchers),
        InstanceMethod("socket", &Addon::Socket),
        InstanceMethod("bind", &Addon::Bind),
        InstanceMethod("sendto", &Addon::Sendto),
        InstanceMethod("recv", &Addon::Recv),
        InstanceMethod("setsockopt", &Addon::Setsockopt),
        InstanceMethod("getsockopt", &Addon::Getsockopt),
        InstanceMethod("setns", &Addon::Setns),
    });
    // bpf() bypasses Napi::CallbackInfo (which heap-allocates past six arguments) and the
    // instance-data lookup: it is the per-element cost of every map operation.
    napi_value bpf_fn;
    napi_create_function(env, "bpf", NAPI_AUTO_LENGTH, Bpf, nullptr, &bpf_fn);
    exports.Set("bpf", Napi::Value(env, bpf_fn));
    napi_value patch_fn;
    napi_create_function(env, "patchPointers", NAPI_AUTO_LENGTH, PatchPointersOnly, nullptr, &patch_fn);
    exports.Set("patchPointers", Napi::Value(env, patch_fn));
    napi_value prepared_fn;
    napi_create_function(env, "prepared", NAPI_AUTO_LENGTH, Prepared, nullptr, &prepared_fn);
    exports.Set("prepared", Napi::Value(env, prepared_fn));
    napi_value prepared_cmd_fn;
    napi_create_function(env, "preparedCmd", NAPI_AUTO_LENGTH, PreparedCmd, nullptr, &prepared_cmd_fn);
    exports.Set("preparedCmd", Napi::Value(env, prepared_cmd_fn));
    napi_value many_fn;
    napi_create_function(env, "elemMany", NAPI_AUTO_LENGTH, ElemMany, nullptr, &many_fn);
    exports.Set("elemMany", Napi::Value(env, many_fn));
    // Lets the loader tell a stale binary from the current source (see scripts/install.mjs).
    exports.Set("abiVersion", Napi::Number::New(env, 6));
    exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
  }

  static Napi::Value IntV(napi_env env, int64_t v) { return Napi::Value(env, Int(env, v)); }

  // Environment teardown is handled per watcher by async cleanup hooks, which keep the napi
  // env (and therefore this object) alive until every poll handle's close callback ran.

  // perfEventOpen(attr, pid, cpu, groupFd, flags[, off, buf]... | [pointers])
  Napi::Value PerfEventOpen(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    size_t argc = info.Length();
    napi_value argv[5 + 2 * kMaxPositionalPairs];
    if (argc < 5) {
      ThrowType(env, "perfEventOpen(attr, pid, cpu, groupFd, flags, ...pointers)");
      return Napi::Value();
    }
    if (argc > std::size(argv)) {
      ThrowRange(env, "too many pointer arguments: pass an array instead");
      return Napi::Value();
    }
    for (size_t i = 0; i < argc; i++) argv[i] = info[i];
    uint8_t* attr;
    size_t attr_len;
    int32_t pid, cpu, group_fd;
    int64_t flags;
    if (!TypedArrayBytes(env, argv[0], &attr, &attr_len) || !Int32Arg(env, argv[1], &pid) ||
        !Int32Arg(env, argv[2], &cpu) || !Int32Arg(env, argv[3], &group_fd) ||
        !Int64Arg(env, argv[4], &flags)) {
      return Napi::Value();
    }
    if (!PatchPointers(env, argv[0], attr, attr_len, argv, 5, argc)) return Napi::Value();
    long rc = syscall(__NR_perf_event_open, attr, pid, cpu, group_fd,
                      static_cast<unsigned long>(flags));
    return IntV(env, Result(rc));
  }

  // ioctl(fd, request, arg): number/bigint as the integer argument, a TypedArray by address.
  Napi::Value Ioctl(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t fd;
    int64_t req;
    if (info.Length() < 3 || !Int32Arg(env, info[0], &fd) || !Int64Arg(env, info[1], &req)) {
      if (!info.Env().IsExceptionPending()) ThrowType(env, "ioctl(fd, request, arg)");
      return Napi::Value();
    }
    uintptr_t arg = 0;
    napi_valuetype t;
    napi_typeof(env, info[2], &t);
    if (t == napi_number) {
      int64_t v;
      napi_get_value_int64(env, info[2], &v);
      arg = static_cast<uintptr_t>(v);
    } else if (t == napi_bigint) {
      uint64_t v;
      bool lossless;
      // Accept negative bigints too (two's complement), as C would for an unsigned long.
      if (napi_get_value_bigint_uint64(env, info[2], &v, &lossless) != napi_ok) {
        return Napi::Value();
      }
      if (!lossless) {
        int64_t s;
        napi_get_value_bigint_int64(env, info[2], &s, &lossless);
        if (!lossless) {
          ThrowRange(env, "ioctl argument does not fit in 64 bits");
          return Napi::Value();
        }
        v = static_cast<uint64_t>(s);
      }
      arg = static_cast<uintptr_t>(v);
    } else {
      uint8_t* data;
      size_t len;
      if (!TypedArrayBytes(env, info[2], &data, &len)) return Napi::Value();
      arg = reinterpret_cast<uintptr_t>(data);
    }
    long rc = ioctl(fd, static_cast<unsigned long>(req), arg);
    return IntV(env, Result(rc));
  }

  // Sockets: netlink (XDP and tc attachment on old kernels, interface lookup) and
  // SO_ATTACH_BPF. Byte arguments are TypedArrays passed by address; null means NULL.
  static bool OptionalBytes(napi_env env, napi_value v, uint8_t** data, size_t* len) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_null || t == napi_undefined) {
      *data = nullptr;
      *len = 0;
      return true;
    }
    return TypedArrayBytes(env, v, data, len);
  }

  // socket(domain, type, protocol): always close-on-exec.
  Napi::Value Socket(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t domain, type, protocol;
    if (info.Length() < 3 || !Int32Arg(env, info[0], &domain) || !Int32Arg(env, info[1], &type) ||
        !Int32Arg(env, info[2], &protocol)) {
      return Napi::Value();
    }
    return IntV(env, Result(socket(domain, type | SOCK_CLOEXEC, protocol)));
  }

  // bind(fd, sockaddr bytes)
  Napi::Value Bind(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t fd;
    uint8_t* addr;
    size_t len;
    if (info.Length() < 2 || !Int32Arg(env, info[0], &fd) || !TypedArrayBytes(env, info[1], &addr, &len)) {
      return Napi::Value();
    }
    return IntV(env, Result(bind(fd, reinterpret_cast<sockaddr*>(addr), static_cast<socklen_t>(len))));
  }

  // sendto(fd, bytes, flags, sockaddr bytes | null)
  Napi::Value Sendto(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t fd, flags;
    uint8_t *buf, *addr;
    size_t len, addr_len;
    if (info.Length() < 4 || !Int32Arg(env, info[0], &fd) || !TypedArrayBytes(env, info[1], &buf, &len) ||
        !Int32Arg(env, info[2], &flags) || !OptionalBytes(env, info[3], &addr, &addr_len)) {
      return Napi::Value();
    }
    long rc = sendto(fd, buf, len, flags, reinterpret_cast<sockaddr*>(addr), static_cast<socklen_t>(addr_len));
    return IntV(env, Result(rc));
  }

  // recv(fd, bytes, flags): the number of bytes received (with MSG_TRUNC, the datagram's size).
  Napi::Value Recv(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t fd, flags;
    uint8_t* buf;
    size_t len;
    if (info.Length() < 3 || !Int32Arg(env, info[0], &fd) || !TypedArrayBytes(env, info[1], &buf, &len) ||
        !Int32Arg(env, info[2], &flags)) {
      return Napi::Value();
    }
    return IntV(env, Result(recv(fd, buf, len, flags)));
  }

  // setsockopt(fd, level, name, value bytes)
  Napi::Value Setsockopt(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t fd, level, name;
    uint8_t* val;
    size_t len;
    if (info.Length() < 4 || !Int32Arg(env, info[0], &fd) || !Int32Arg(env, info[1], &level) ||
        !Int32Arg(env, info[2], &name) || !TypedArrayBytes(env, info[3], &val, &len)) {
      return Napi::Value();
    }
    return IntV(env, Result(setsockopt(fd, level, name, val, static_cast<socklen_t>(len))));
  }

  // getsockopt(fd, level, name, value bytes): fills the bytes, returns the option's length.
  Napi::Value Getsockopt(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t fd, level, name;
    uint8_t* val;
    size_t len;
    if (info.Length() < 4 || !Int32Arg(env, info[0], &fd) || !Int32Arg(env, info[1], &level) ||
        !Int32Arg(env, info[2], &name) || !TypedArrayBytes(env, info[3], &val, &len)) {
      return Napi::Value();
    }
    socklen_t out = static_cast<socklen_t>(len);
    if (getsockopt(fd, level, name, val, &out) != 0) return IntV(env, -errno);
    return IntV(env, out);
  }

  // setns(fd, nstype): moves the calling thread (the JS thread) into a namespace.
  Napi::Value Setns(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t fd, nstype;
    if (info.Length() < 2 || !Int32Arg(env, info[0], &fd) || !Int32Arg(env, info[1], &nstype)) {
      return Napi::Value();
    }
    return IntV(env, Result(setns(fd, nstype)));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    int32_t fd;
    if (info.Length() < 1 || !Int32Arg(info.Env(), info[0], &fd)) return Napi::Value();
    // close() must not be retried on EINTR on Linux: the fd is released either way.
    return IntV(info.Env(), Result(close(fd)));
  }

  Napi::Value DupAbove(const Napi::CallbackInfo& info) {
    int32_t fd, min_fd;
    if (info.Length() < 2 || !Int32Arg(info.Env(), info[0], &fd) ||
        !Int32Arg(info.Env(), info[1], &min_fd)) {
      return Napi::Value();
    }
    return IntV(info.Env(), Result(fcntl(fd, F_DUPFD_CLOEXEC, min_fd)));
  }

  // getrlimit(resource) -> [soft, hard] as bigints, or -errno.
  Napi::Value Getrlimit(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t res;
    if (info.Length() < 1 || !Int32Arg(env, info[0], &res)) return Napi::Value();
    struct rlimit rl;
    if (getrlimit(static_cast<__rlimit_resource_t>(res), &rl) != 0) return IntV(env, -errno);
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set(0u, Napi::BigInt::New(env, static_cast<uint64_t>(rl.rlim_cur)));
    out.Set(1u, Napi::BigInt::New(env, static_cast<uint64_t>(rl.rlim_max)));
    return out;
  }

  Napi::Value Setrlimit(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t res;
    uint64_t soft, hard;
    if (info.Length() < 3 || !Int32Arg(env, info[0], &res) ||
        !BigUint64Arg(env, info[1], &soft) || !BigUint64Arg(env, info[2], &hard)) {
      return Napi::Value();
    }
    struct rlimit rl;
    rl.rlim_cur = static_cast<rlim_t>(soft);
    rl.rlim_max = static_cast<rlim_t>(hard);
    return IntV(env, Result(setrlimit(static_cast<__rlimit_resource_t>(res), &rl)));
  }

  // mmap(fd, length, prot, flags, offset) -> ArrayBuffer aliasing the pages, or -errno.
  Napi::Value Mmap(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t fd, prot, flags;
    int64_t length, offset;
    if (info.Length() < 5 || !Int32Arg(env, info[0], &fd) || !Int64Arg(env, info[1], &length) ||
        !Int32Arg(env, info[2], &prot) || !Int32Arg(env, info[3], &flags) ||
        !Int64Arg(env, info[4], &offset)) {
      return Napi::Value();
    }
    if (length <= 0) return IntV(env, -EINVAL);
    void* addr = mmap(nullptr, static_cast<size_t>(length), prot, flags, fd,
                      static_cast<off_t>(offset));
    if (addr == MAP_FAILED) return IntV(env, -errno);
    auto* rec = new MappingRecord{addr, static_cast<size_t>(length), false};
    napi_value ab;
    napi_status st = napi_create_external_arraybuffer(env, addr, rec->length, FinalizeMapping,
                                                      rec, &ab);
    if (st != napi_ok) {
      munmap(addr, rec->length);
      delete rec;
      // V8 sandbox builds (Electron >= 21) forbid ArrayBuffers over foreign memory. Copying
      // is no substitute: the point of the mapping is to see the kernel's writes live, so
      // report "not supported" and let the caller fall back to syscall-based reads.
      if (st == napi_no_external_buffers_allowed) return IntV(env, -EOPNOTSUPP);
      if (Napi::Env(env).IsExceptionPending()) return Napi::Value();
      return IntV(env, -ENOMEM);
    }
    // The record is reachable from the ArrayBuffer so munmap() can mark it. No finalizer on
    // the wrap: the record belongs to the external-buffer finalizer above.
    napi_wrap(env, ab, rec, nullptr, nullptr, nullptr);
    return Napi::Value(env, ab);
  }

  // munmap(arrayBuffer) -> 0 or -errno. Detaches the ArrayBuffer so that later JS access sees
  // zero bytes instead of unmapped (or reused) memory. Idempotent.
  Napi::Value Munmap(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
      ThrowType(env, "munmap(arrayBuffer)");
      return Napi::Value();
    }
    napi_value ab = info[0];
    bool detached = false;
    napi_is_detached_arraybuffer(env, ab, &detached);
    // Once detached, the finalizer may already have freed the record: do not unwrap.
    if (detached) return IntV(env, 0);
    void* hint = nullptr;
    if (napi_unwrap(env, ab, &hint) != napi_ok || hint == nullptr) {
      if (Napi::Env(env).IsExceptionPending()) Napi::Env(env).GetAndClearPendingException();
      return IntV(env, -EINVAL);  // not an ArrayBuffer from mmap()
    }
    auto* rec = static_cast<MappingRecord*>(hint);
    if (rec->unmapped) return IntV(env, 0);
    // Detach first: after this no JS can reach the pages, then release them.
    napi_detach_arraybuffer(env, ab);
    rec->unmapped = true;
    return IntV(env, Result(munmap(rec->addr, rec->length)));
  }

  // Checked address of `size` bytes at `off` in an ArrayBuffer, naturally aligned.
  template <size_t Size>
  static void* AtomicSlot(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    if (info.Length() < 2 || !info[0].IsArrayBuffer()) {
      ThrowType(env, "expected (ArrayBuffer, offset)");
      return nullptr;
    }
    void* data;
    size_t len;
    napi_get_arraybuffer_info(env, info[0], &data, &len);
    int64_t off;
    if (!Int64Arg(env, info[1], &off)) return nullptr;
    if (off < 0 || static_cast<uint64_t>(off) + Size > len) {
      ThrowRange(env, "atomic access outside the buffer (unmapped or bad offset)");
      return nullptr;
    }
    uintptr_t p = reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(off);
    if (p % Size != 0) {
      ThrowRange(env, "atomic access must be naturally aligned");
      return nullptr;
    }
    return reinterpret_cast<void*>(p);
  }

  // Pairs with the kernel's smp_store_release of perf data_head / ringbuf producer_pos:
  // the acquire makes the record bytes written before the head visible to our reads.
  Napi::Value LoadAcquire64(const Napi::CallbackInfo& info) {
    auto* p = static_cast<uint64_t*>(AtomicSlot<8>(info));
    if (p == nullptr) return Napi::Value();
    return Napi::BigInt::New(info.Env(), __atomic_load_n(p, __ATOMIC_ACQUIRE));
  }

  Napi::Value LoadAcquire32(const Napi::CallbackInfo& info) {
    auto* p = static_cast<uint32_t*>(AtomicSlot<4>(info));
    if (p == nullptr) return Napi::Value();
    return Napi::Number::New(info.Env(), __atomic_load_n(p, __ATOMIC_ACQUIRE));
  }

  // Publishes data_tail / consumer_pos: the release orders our reads of the records before
  // the kernel may overwrite them.
  Napi::Value StoreRelease64(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    auto* p = static_cast<uint64_t*>(AtomicSlot<8>(info));
    if (p == nullptr) return Napi::Value();
    uint64_t v;
    if (info.Length() < 3 || !BigUint64Arg(env, info[2], &v)) {
      if (!info.Env().IsExceptionPending()) ThrowType(env, "expected a bigint value");
      return Napi::Value();
    }
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
    return info.Env().Undefined();
  }

  // watch(fd, events, callback) -> watcher id (> 0), or -errno.
  Napi::Value Watch(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t fd, events;
    if (info.Length() < 3 || !Int32Arg(env, info[0], &fd) || !Int32Arg(env, info[1], &events)) {
      return Napi::Value();
    }
    if (!info[2].IsFunction()) {
      ThrowType(env, "watch(fd, events, callback): callback must be a function");
      return Napi::Value();
    }
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dupfd < 0) return IntV(env, -errno);
    return StartWatch(env, dupfd, ToUvEvents(events), info[2]);
  }

  // watchAny(fds, events, callback) -> watcher id (> 0), or -errno. The callback runs when any
  // of the fds is ready for `events`, once per event-loop wake-up, with POLLIN as its argument
  // (the set itself is polled for readability; POLLERR if libuv reports an error). Which fds
  // are ready is not reported: the caller looks at all of them (a perf fd could not tell
  // anyway: perf_poll() hands out each wake-up once, and polling the set has already taken it).
  Napi::Value WatchAny(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    int32_t events;
    if (info.Length() < 3 || !info[0].IsArray() || !Int32Arg(env, info[1], &events)) {
      if (!Napi::Env(env).IsExceptionPending()) ThrowType(env, "watchAny(fds, events, callback)");
      return Napi::Value();
    }
    if (!info[2].IsFunction()) {
      ThrowType(env, "watchAny(fds, events, callback): callback must be a function");
      return Napi::Value();
    }
    Napi::Array fds = info[0].As<Napi::Array>();
    uint32_t n = fds.Length();
    if (n == 0) return IntV(env, -EINVAL);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) return IntV(env, -errno);
    // Above stdio, like watch()'s dup: a process that closed fd 0 must not get it back here.
    if (epfd < 3) {
      int moved = fcntl(epfd, F_DUPFD_CLOEXEC, 3);
      int err = errno;
      close(epfd);
      if (moved < 0) return IntV(env, -err);
      epfd = moved;
    }
    for (uint32_t i = 0; i < n; i++) {
      int32_t fd;
      if (!Int32Arg(env, fds.Get(i), &fd)) {
        close(epfd);
        return Napi::Value();
      }
      // Level-triggered, as libuv polls the instance itself: each poll of the instance asks
      // its ready members again and drops those no longer ready, so the set empties itself.
      // poll(2) and epoll share these bits on Linux.
      struct epoll_event ev = {};
      ev.events = static_cast<uint32_t>(events) & (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP);
      ev.data.u32 = i;
      if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int err = errno;
        close(epfd);
        return IntV(env, -err);  // EPERM: a regular file; EBADF; EEXIST: an fd given twice
      }
    }
    return StartWatch(env, epfd, UV_READABLE, info[2]);
  }

  // unwatch(id): stops and releases a watcher; the callback is never called afterwards.
  Napi::Value Unwatch(const Napi::CallbackInfo& info) {
    int32_t id;
    if (info.Length() < 1 || !Int32Arg(info.Env(), info[0], &id)) return Napi::Value();
    auto it = watchers_.find(static_cast<uint32_t>(id));
    if (it != watchers_.end()) BeginClose(it->second);
    return info.Env().Undefined();
  }

  // refWatch(id, bool): whether the watcher keeps the event loop alive (like socket.ref()).
  Napi::Value RefWatch(const Napi::CallbackInfo& info) {
    int32_t id;
    if (info.Length() < 2 || !Int32Arg(info.Env(), info[0], &id)) return Napi::Value();
    auto it = watchers_.find(static_cast<uint32_t>(id));
    if (it != watchers_.end()) {
      auto* h = reinterpret_cast<uv_handle_t*>(&it->second->handle);
      if (info[1].ToBoolean()) {
        uv_ref(h);
      } else {
        uv_unref(h);
      }
    }
    return info.Env().Undefined();
  }

  // Number of open watchers in this environment (tests use it to prove stop() releases).
  Napi::Value ActiveWatchers(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(watchers_.size()));
  }

 private:
  // Polls `fd` (ours from now on: closed with the handle, also on failure) for `uv_events` and
  // calls `callback` from the loop. Returns the watcher id or -errno.
  Napi::Value StartWatch(napi_env env, int fd, int uv_events, Napi::Value callback) {
    uv_loop_t* loop;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      close(fd);
      return IntV(env, -ENOSYS);
    }
    auto* w = new WatchState();
    w->addon = this;
    w->fd = fd;
    w->env = env;
    w->closing = false;
    int rc = uv_poll_init(loop, &w->handle, fd);
    if (rc != 0) {
      // uv_poll_init failing leaves no handle to close (e.g. EPERM: a regular file).
      close(fd);
      delete w;
      return IntV(env, rc);  // libuv errors are already -errno on Unix
    }
    w->handle.data = w;
    rc = uv_poll_start(&w->handle, uv_events, OnPoll);
    if (rc != 0) {
      w->closing = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), FreeWithoutHook);
      return IntV(env, rc);
    }
    napi_create_reference(env, callback, 1, &w->callback);
    napi_value resource_name;
    napi_create_string_utf8(env, "ebpf-ts:watch", NAPI_AUTO_LENGTH, &resource_name);
    napi_async_init(env, nullptr, resource_name, &w->async_context);
    napi_add_async_cleanup_hook(env, OnEnvTeardown, w, &w->cleanup);
    w->id = ++last_watch_id_;
    watchers_[w->id] = w;
    return IntV(env, w->id);
  }

  static void OnPoll(uv_poll_t* handle, int status, int uv_events) {
    auto* w = static_cast<WatchState*>(handle->data);
    if (w->closing) return;
    napi_env env = w->env;
    // Without a scope of our own, handles created by the callback would pile up in whatever
    // scope libuv's caller had open (none): napi requires one here.
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value cb, recv, arg, result;
    napi_get_reference_value(env, w->callback, &cb);
    napi_get_global(env, &recv);  // make_callback needs an object receiver
    napi_create_int32(env, FromUvEvents(status, uv_events), &arg);
    // make_callback (not call_function): runs process.nextTick and microtask queues after the
    // callback and attributes it to our async resource, like any other libuv-driven callback.
    napi_status st = napi_make_callback(env, w->async_context, recv, cb, 1, &arg, &result);
    if (st == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      // Same treatment as an exception in an fs or net callback: 'uncaughtException'.
      napi_fatal_exception(env, err);
    }
    napi_close_handle_scope(env, scope);
  }

  void BeginClose(WatchState* w) {
    if (w->closing) return;
    w->closing = true;
    watchers_.erase(w->id);
    // Release JS-side resources now, while the env is certainly usable.
    napi_delete_reference(w->env, w->callback);
    w->callback = nullptr;
    napi_async_destroy(w->env, w->async_context);
    w->async_context = nullptr;
    uv_poll_stop(&w->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), OnClosed);
  }

  // The handle's memory is only ours again once libuv has called this.
  static void OnClosed(uv_handle_t* handle) {
    auto* w = static_cast<WatchState*>(handle->data);
    close(w->fd);
    // Unregisters the teardown hook, or, if teardown is in progress, tells Node this
    // watcher is done so the worker's loop can be closed.
    napi_remove_async_cleanup_hook(w->cleanup);
    delete w;
  }

  static void FreeWithoutHook(uv_handle_t* handle) {
    auto* w = static_cast<WatchState*>(handle->data);
    close(w->fd);
    delete w;
  }

  // Worker exit or env teardown with the watcher still open: close the handle
  // asynchronously; Node keeps the loop running until OnClosed removes the hook.
  static void OnEnvTeardown(napi_async_cleanup_hook_handle /*handle*/, void* arg) {
    auto* w = static_cast<WatchState*>(arg);
    if (w->closing) return;  // OnClosed is already on its way
    w->addon->BeginClose(w);
  }

  uint32_t last_watch_id_ = 0;
  std::unordered_map<uint32_t, WatchState*> watchers_;
};

}  // namespace

NODE_API_ADDON(Addon)
