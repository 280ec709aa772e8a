// <typeformer/typeformer.hpp> and nothing instantiated.
#include <typeformer/typeformer.hpp>

int main() { return 0; }
