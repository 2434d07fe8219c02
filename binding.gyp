# Build description for the native syscall seam (native/ebpf_ts.cc). node-gyp reads it from
# scripts/install.mjs (source builds) and scripts/prebuild.mjs (prebuilt binaries).
{
  "targets": [
    {
      "target_name": "ebpf_ts",
      "sources": ["native/ebpf_ts.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        # Node-API 8 is the first with async cleanup hooks and detachable ArrayBuffers;
        # every Node >= 12.22 has it, Node 20 (our floor) well beyond.
        "NAPI_VERSION=8",
        # Errors surface as pending JS exceptions; the hot path never unwinds.
        "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS",
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags": ["-O2"],
    }
  ]
}
