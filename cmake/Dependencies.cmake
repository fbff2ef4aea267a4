# Imported targets for the Debian 12 packages the project builds on.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(rabbitmq-c CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(POPPLER_CPP REQUIRED IMPORTED_TARGET poppler-cpp)

# RapidJSON ships only include dirs; std::regex makes JSON Schema "pattern" work (the
# internal engine silently drops \d, \w and \s).
find_path(RAPIDJSON_INCLUDE_DIR rapidjson/document.h REQUIRED)
add_library(mq_rapidjson INTERFACE)
target_include_directories(mq_rapidjson SYSTEM INTERFACE ${RAPIDJSON_INCLUDE_DIR})
target_compile_definitions(mq_rapidjson INTERFACE RAPIDJSON_SCHEMA_USE_INTERNALREGEX=0
                                                  RAPIDJSON_HAS_STDSTRING=1)
add_library(RapidJSON::rapidjson ALIAS mq_rapidjson)

# CAF 0.17 has neither a CMake config nor a pkg-config file.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIB caf_core REQUIRED)
add_library(mq_caf_core INTERFACE)
target_include_directories(mq_caf_core SYSTEM INTERFACE ${CAF_INCLUDE_DIR})
target_link_libraries(mq_caf_core INTERFACE ${CAF_CORE_LIB} Threads::Threads)
add_library(CAF::core ALIAS mq_caf_core)

# jemalloc for the long-running services: far less time in malloc under many small
# allocations across threads than glibc's allocator.
find_library(JEMALLOC_LIB NAMES jemalloc REQUIRED)

# libpqxx 6.4: Debian's config header leaves std::optional support off.
target_compile_definitions(PkgConfig::PQXX INTERFACE PQXX_HAVE_OPTIONAL)
