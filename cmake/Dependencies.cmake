# Every dependency comes from a Debian 12 package. When one is missing, say which
# package provides it instead of leaving the user with CMake's generic message.
find_package(PkgConfig)
if(NOT PkgConfig_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

macro(wfmpi_require_pkg target module debpkg)
  pkg_check_modules(${target} IMPORTED_TARGET ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install ${debpkg}")
  endif()
endmacro()

wfmpi_require_pkg(YAML yaml-0.1 libyaml-dev)
wfmpi_require_pkg(HWLOC hwloc libhwloc-dev)
wfmpi_require_pkg(JANSSON jansson libjansson-dev)
# wfmpi serve: HTTP(S) with TLS through GnuTLS.
wfmpi_require_pkg(MHD libmicrohttpd libmicrohttpd-dev)
find_package(Threads REQUIRED)

find_package(MPI COMPONENTS C)
if(NOT MPI_C_FOUND)
  message(FATAL_ERROR "MPI not found: apt-get install libopenmpi-dev openmpi-bin")
endif()

find_package(HDF5 COMPONENTS C)
if(NOT HDF5_FOUND)
  message(FATAL_ERROR "HDF5 not found: apt-get install libhdf5-dev")
endif()

find_package(ZLIB)
if(NOT ZLIB_FOUND)
  message(FATAL_ERROR "zlib not found: apt-get install zlib1g-dev")
endif()

find_package(CURL)
if(NOT CURL_FOUND)
  message(FATAL_ERROR "libcurl not found: apt-get install libcurl4-openssl-dev")
endif()

find_package(OpenSSL COMPONENTS Crypto)
if(NOT OpenSSL_FOUND)
  message(FATAL_ERROR "libcrypto not found: apt-get install libssl-dev")
endif()

# CUDA is optional: without it GPUs are still discovered through hwloc.
if(EXISTS /usr/local/cuda)
  list(APPEND CMAKE_PREFIX_PATH /usr/local/cuda)
endif()
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND)
  message(STATUS "CUDA runtime found (${CUDAToolkit_VERSION}): GPUs discovered through CUDA and hwloc")
  set(WFMPI_HAVE_CUDA ON)
else()
  message(STATUS "CUDA runtime not found: building without CUDA; GPUs are discovered through hwloc only")
  set(WFMPI_HAVE_CUDA OFF)
endif()

if(WFMPI_TESTS)
  pkg_check_modules(CMOCKA IMPORTED_TARGET cmocka)
  if(NOT CMOCKA_FOUND)
    message(FATAL_ERROR "cmocka not found: apt-get install libcmocka-dev (or -DWFMPI_TESTS=OFF)")
  endif()
endif()
