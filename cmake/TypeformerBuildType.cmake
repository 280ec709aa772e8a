# A project configured without CMAKE_BUILD_TYPE (CMake's default for single-configuration
# generators) compiles with no optimisation flag at all, and typeformer's kernels then run about
# 500 times slower: the Vaswani MHA block took 1.2-2.1 s per call instead of 3.3 ms. That must
# not happen silently, so the targets that link typeformer get -O2 in that configuration, with a
# warning that says so. A build type, or an -O flag in CMAKE_CXX_FLAGS, leaves the choice to the
# user. Included by typeformerConfig.cmake and, under add_subdirectory, by CMakeLists.txt.
function(typeformer_default_optimisation target)
  get_property(_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
  get_property(_done GLOBAL PROPERTY TYPEFORMER_DEFAULT_OPTIMISATION_DONE)
  if(_multi_config OR _done OR CMAKE_BUILD_TYPE OR CMAKE_CXX_FLAGS MATCHES "(^| )-O")
    return()
  endif()
  set_property(GLOBAL PROPERTY TYPEFORMER_DEFAULT_OPTIMISATION_DONE ON)
  message(WARNING
    "typeformer: CMAKE_BUILD_TYPE is not set, so CMake would compile without optimisation and "
    "typeformer's kernels would run about 500 times slower. Targets that link "
    "typeformer::typeformer get -O2 in this configuration. Choose a build type to silence this: "
    "-DCMAKE_BUILD_TYPE=Release (or RelWithDebInfo, or Debug to step through the code).")
  set_property(TARGET ${target} APPEND PROPERTY INTERFACE_COMPILE_OPTIONS
               "$<BUILD_INTERFACE:$<$<CONFIG:>:-O2>>")
endfunction()
