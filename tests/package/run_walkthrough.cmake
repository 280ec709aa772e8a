# Runs the shell block of docs/guide/7-walkthrough.md marked for tests/package, as written, in a
# copy of examples/walkthrough; $HOME holds the package package.find_package installed, and
# $TYPEFORMER is this source tree.
cmake_minimum_required(VERSION 3.22)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
file(COPY ${SOURCE_DIR}/examples/walkthrough/ DESTINATION ${WORK_DIR}/project)
include(${CMAKE_CURRENT_LIST_DIR}/guide_block.cmake)
guide_block(${SOURCE_DIR}/docs/guide/7-walkthrough.md _commands)
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env HOME=${HOME_DIR} TYPEFORMER=${SOURCE_DIR} CXX=${CXX}
          bash -e -c "${_commands}"
  WORKING_DIRECTORY ${WORK_DIR}/project RESULT_VARIABLE _r OUTPUT_VARIABLE _o ERROR_VARIABLE _e)
message("${_o}")
if(NOT _r EQUAL 0 OR NOT _o MATCHES "C\\+\\+ against PyTorch: max \\|difference\\|")
  message(FATAL_ERROR "the walkthrough failed (${_r}):\n${_o}\n${_e}")
endif()
