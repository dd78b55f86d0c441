# am_protobuf_generate(TARGET <target> PROTOS <file.proto>... [IMPORT_DIRS <dir>...])
#
# From the build tree (this project) or an installed package (find_package(atomicmatrix)).
# Runs protoc with protoc-c's generator and protoc-gen-am on each .proto, adds the
# generated x.pb-c.c and x.am.c to <target>, puts the output directory on its include
# path and links it to atomicmatrix_protobuf. Outputs go to
# ${CMAKE_CURRENT_BINARY_DIR}/am_protobuf, named like the .proto relative to the first
# import directory (default: the .proto's own directory).
function(am_protobuf_generate)
  cmake_parse_arguments(G "" "TARGET" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT G_TARGET OR NOT G_PROTOS)
    message(FATAL_ERROR "am_protobuf_generate: TARGET and PROTOS are required")
  endif()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/am_protobuf)
  file(MAKE_DIRECTORY ${out})
  if(TARGET protoc-gen-am)
    set(plugin $<TARGET_FILE:protoc-gen-am>)
    set(plugin_dep protoc-gen-am)
  else()
    set(plugin ${AM_PROTOC_GEN_AM})
    set(plugin_dep ${AM_PROTOC_GEN_AM})
  endif()
  foreach(proto ${G_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    get_filename_component(dir ${abs} DIRECTORY)
    if(G_IMPORT_DIRS)
      list(GET G_IMPORT_DIRS 0 root)
      get_filename_component(root ${root} ABSOLUTE)
    else()
      set(root ${dir})
    endif()
    file(RELATIVE_PATH rel ${root} ${abs})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    set(includes -I${root})
    foreach(d ${G_IMPORT_DIRS})
      get_filename_component(d ${d} ABSOLUTE)
      list(APPEND includes -I${d})
    endforeach()
    add_custom_command(
      OUTPUT ${out}/${base}.pb-c.c ${out}/${base}.pb-c.h ${out}/${base}.am.c ${out}/${base}.am.h
      COMMAND ${PROTOC} ${includes} --plugin=protoc-gen-c=${PROTOC_GEN_C} --plugin=protoc-gen-am=${plugin}
              --c_out=${out} --am_out=${out} ${abs}
      DEPENDS ${abs} ${plugin_dep}
      COMMENT "protoc: ${rel} -> ${base}.pb-c.[ch], ${base}.am.[ch]")
    target_sources(${G_TARGET} PRIVATE ${out}/${base}.pb-c.c ${out}/${base}.am.c)
  endforeach()
  target_include_directories(${G_TARGET} PRIVATE ${out})
  if(TARGET atomicmatrix_protobuf)                 # this build tree
    target_link_libraries(${G_TARGET} PRIVATE atomicmatrix_protobuf)
  else()                                           # an installed package
    target_link_libraries(${G_TARGET} PRIVATE atomicmatrix::atomicmatrix_protobuf)
  endif()
endfunction()
