# Configures, builds and runs the consumer project in MODE subdirectory or find_package.
cmake_minimum_required(VERSION 3.22)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE _r OUTPUT_VARIABLE _o ERROR_VARIABLE _e)
  if(NOT _r EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGV}\n${_o}\n${_e}")
  endif()
endfunction()

# No optimisation: what is tested is that the projects configure, build, install and run; -O0
# halves the compile time of the three programs (the consumer, its manifest writer, and
# typeformer-inspect), which CI pays in test:release.
set(_common -G "Unix Makefiles" -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=)
if(MODE STREQUAL "find_package")
  # Install typeformer alone (no tests) into a private prefix, then find it there.
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/typeformer-build ${_common}
      -DTYPEFORMER_BUILD_TESTS=OFF -DTYPEFORMER_BUILD_EXAMPLES=OFF
      -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/typeformer-build)  # typeformer-inspect
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/typeformer-build)
  run(${CMAKE_COMMAND} -S ${CONSUMER} -B ${WORK_DIR}/consumer-build ${_common}
      -DCONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
  run(${CMAKE_COMMAND} -S ${CONSUMER} -B ${WORK_DIR}/consumer-build ${_common}
      -DCONSUMER_MODE=subdirectory -DTYPEFORMER_SOURCE_DIR=${SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
execute_process(COMMAND ${WORK_DIR}/consumer-build/consumer WORKING_DIRECTORY ${WORK_DIR}
                RESULT_VARIABLE _r)
if(NOT _r EQUAL 0)
  message(FATAL_ERROR "the consumer failed (${_r})")
endif()
# The installed typeformer-inspect accepts the consumer's file against the manifest the CMake
# helper wrote.
if(MODE STREQUAL "find_package")
  file(READ ${WORK_DIR}/consumer-build/inspect_path.txt _inspect)
  run(${_inspect} ${WORK_DIR}/attention.safetensors
      --against ${WORK_DIR}/consumer-build/attention.manifest.json)
elseif(NOT EXISTS ${WORK_DIR}/consumer-build/attention.manifest.json)
  message(FATAL_ERROR "typeformer_add_manifest wrote no manifest")
endif()
message(STATUS "consumer built and ran via ${MODE}")
