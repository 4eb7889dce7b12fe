// One include, compiled against one library's include roots (tests/layers/
// CMakeLists.txt): proves that a layer sees the headers it may use, and that
// an include running up a layer, or past the layer in between, finds no file.
#include PROBE_HEADER

int layer_probe() {
  return 0;
}
