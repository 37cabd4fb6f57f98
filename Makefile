# Thin wrapper over CMake. The README's two commands:
#   make demo    build everything, run the main job on a built-in default, say where its output went
#   make test    build everything, run every test (C, CLI, Python) through ctest
# Other builds: make test BUILD=build-double CMAKE_FLAGS=-DVF_DOUBLE=ON
#               make test BUILD=build-asan   CMAKE_FLAGS="-DVF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
BUILD       ?= build
CMAKE_FLAGS ?=
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX      ?= /usr/local

.PHONY: all build demo test bench install uninstall clean

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/varflow demo -o $(BUILD)/demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	./$(BUILD)/varflow bench engine

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

uninstall:
	@if [ -f $(BUILD)/install_manifest.txt ]; then xargs rm -fv < $(BUILD)/install_manifest.txt; \
	else echo "nothing to uninstall (no $(BUILD)/install_manifest.txt)"; fi

clean:
	rm -rf $(BUILD)
