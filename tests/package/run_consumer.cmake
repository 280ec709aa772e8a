# Configures, builds and runs the consumer project in MODE subdirectory or find_package.
cmake_minimum_required(VERSION 3.22)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE _r OUTPUT_VARIABLE _o ERROR_VARIABLE _e
                  WORKING_DIRECTORY ${WORK_DIR})
  if(NOT _r EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGV}\n${_o}\n${_e}")
  endif()
  set(run_output "${_o}${_e}" PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "find_package")
  # The install guide's commands, exactly as docs/guide/1-install.md gives them: typeformer and
  # my_app are this source tree and the consumer project, $HOME is a private directory.
  include(${CMAKE_CURRENT_LIST_DIR}/guide_block.cmake)
  guide_block(${SOURCE_DIR}/docs/guide/1-install.md _commands)
  file(CREATE_LINK ${SOURCE_DIR} ${WORK_DIR}/typeformer SYMBOLIC)
  file(CREATE_LINK ${CONSUMER} ${WORK_DIR}/my_app SYMBOLIC)
  file(MAKE_DIRECTORY ${WORK_DIR}/home)
  run(${CMAKE_COMMAND} -E env HOME=${WORK_DIR}/home CXX=${CXX} bash -e -c "${_commands}")
  # Installing built only what is installed (issue: 36 targets were built to install headers).
  foreach(_own tests examples bench)
    if(EXISTS ${WORK_DIR}/build/typeformer/${_own})
      message(FATAL_ERROR "the guide's install commands built typeformer's ${_own}")
    endif()
  endforeach()
  set(_consumer_build ${WORK_DIR}/build/my_app)
  set(_prefix ${WORK_DIR}/home/.local)
  # A project without a build type is warned and compiled with -O2, not silently unoptimised.
  run(${CMAKE_COMMAND} -S ${CONSUMER} -B ${WORK_DIR}/no-build-type -DCMAKE_CXX_COMPILER=${CXX}
      -DCMAKE_PREFIX_PATH=${_prefix})
  if(NOT run_output MATCHES "CMAKE_BUILD_TYPE is not set")
    message(FATAL_ERROR "no warning for a project without a build type:\n${run_output}")
  endif()
  file(READ ${WORK_DIR}/no-build-type/CMakeFiles/consumer.dir/flags.make _flags)
  if(NOT _flags MATCHES "-O2")
    message(FATAL_ERROR "a project without a build type is compiled without -O2:\n${_flags}")
  endif()
else()
  # -O0 in the flags (what is tested is that the project configures, builds and runs; -O0 halves
  # the compile time) also says the user chose: no warning, no -O2.
  set(_consumer_build ${WORK_DIR}/consumer-build)
  run(${CMAKE_COMMAND} -S ${CONSUMER} -B ${_consumer_build} -G "Unix Makefiles"
      -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS=-O0
      -DCONSUMER_MODE=subdirectory -DTYPEFORMER_SOURCE_DIR=${SOURCE_DIR})
  if(run_output MATCHES "CMAKE_BUILD_TYPE is not set")
    message(FATAL_ERROR "warned though CMAKE_CXX_FLAGS has -O0:\n${run_output}")
  endif()
  run(${CMAKE_COMMAND} --build ${_consumer_build})
endif()
# The program built against typeformer::typeformer (kernels and reader compiled once) and
# against typeformer::header_only.
foreach(_program consumer consumer_header_only)
  execute_process(COMMAND ${_consumer_build}/${_program} WORKING_DIRECTORY ${WORK_DIR}
                  RESULT_VARIABLE _r)
  if(NOT _r EQUAL 0)
    message(FATAL_ERROR "${_program} failed (${_r})")
  endif()
endforeach()
# The installed typeformer-inspect accepts the consumer's file against the manifest the CMake
# helper wrote.
if(MODE STREQUAL "find_package")
  file(READ ${_consumer_build}/inspect_path.txt _inspect)
  run(${_inspect} ${WORK_DIR}/attention.safetensors
      --against ${_consumer_build}/attention.manifest.json)
elseif(NOT EXISTS ${_consumer_build}/attention.manifest.json)
  message(FATAL_ERROR "typeformer_add_manifest wrote no manifest")
endif()
message(STATUS "consumer built and ran via ${MODE}")
