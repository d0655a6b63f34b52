# Included by llama.cpp's own project() call when llama-cpp-python is built (CMAKE_PROJECT_llama.cpp_INCLUDE in the
# Makefile's LLAMA_CMAKE_ARGS). llama-cpp-python forces llama.cpp's `common` library on, but its Python bindings load
# only libllama and ggml; `common` (argument parsing, chat templates, JSON schemas) is half of the compile on 2 cores.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama.cpp: build the common library" FORCE)
