"""Extracts every ```cpp block of the given Markdown files into C++ sources, so that CI compiles
every code example the documentation shows.

    extract_snippets.py OUT_DIR ROOT FILE.md...

One source for every fragment, OUT_DIR/fragments.cpp (the library's headers are then parsed
once), and one per complete program, OUT_DIR/<name>_program_<line>.cpp; OUT_DIR/snippets.cmake
lists them. `#line` directives point
compile errors at the Markdown line.

A block is a *fragment* by default: its lines become the body of a function of their own, after
a prelude (`#include <typeformer/typeformer.hpp>`, `namespace tfm = typeformer;`, `using
namespace typeformer::dims;`); its `#include` lines move to the top of the file. An HTML comment
on the lines just above the fence changes that (invisible when the Markdown is rendered):

  <!-- snippet: program -->        the block is a whole translation unit, compiled as it is
  <!-- snippet: continue -->       the block goes on in the previous fragment's function
  <!-- snippet: setup
       C++ lines -->               declarations the block assumes (inputs, a workspace), put
                                   before its lines in the same function
  <!-- snippet: global
       C++ lines -->               declarations at namespace scope, before the function

Any other `snippet:` word is an error, so a typo cannot silently skip a block.
"""
from __future__ import annotations

import os
import re
import sys

PRELUDE = """#include <typeformer/typeformer.hpp>
namespace tfm = typeformer;
using namespace typeformer::dims;
"""

DIRECTIVE = re.compile(r"<!--\s*snippet:\s*(\w+)(.*?)(-->|$)", re.S)


class Block:
    def __init__(self, start: int, lines: list[str], kind: str, setup: list, globals_: list):
        self.start, self.lines, self.kind, self.setup, self.globals = start, lines, kind, setup, globals_


def blocks_of(path: str) -> list[Block]:
    with open(path, encoding="utf8") as f:
        text = f.read().split("\n")
    out, i, pending = [], 0, []
    while i < len(text):
        line = text[i]
        if line.strip().startswith("<!--") and "snippet:" in line:
            comment = [line]
            while "-->" not in comment[-1]:
                i += 1
                comment.append(text[i])
            m = DIRECTIVE.search("\n".join(comment))
            word, rest = m.group(1), m.group(2)
            if word not in ("program", "continue", "setup", "global"):
                sys.exit(f"{path}:{i + 1}: unknown snippet directive '{word}'")
            code = rest.strip("\n").split("\n") if rest.strip() else []
            pending.append((word, code, i + 2 - len(comment)))
        elif line.startswith("```cpp"):
            kind, setup, globals_ = "fragment", [], []
            for word, code, at in pending:
                if word in ("program", "continue"):
                    kind = word
                elif word == "setup":
                    setup.append((at, code))
                else:
                    globals_.append((at, code))
            body, start = [], i + 2
            i += 1
            while not text[i].startswith("```"):
                body.append(text[i])
                i += 1
            out.append(Block(start, body, kind, setup, globals_))
            pending = []
        elif line.strip() and pending and not line.strip().startswith("<!--"):
            sys.exit(f"{path}:{i + 1}: a snippet directive not followed by a ```cpp block")
        i += 1
    return out


def line_directive(n: int, path: str) -> str:
    return f'#line {n} "{path}"'


def main() -> None:
    out_dir, root, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out_dir, exist_ok=True)
    sources, includes, globals_, functions = [], [], [], []
    for path in files:
        rel = os.path.relpath(path, root)
        name = re.sub(r"[^A-Za-z0-9]", "_", rel[:-3])
        for b in blocks_of(path):
            if b.kind == "program":
                program = os.path.join(out_dir, f"{name}_program_{b.start}.cpp")
                with open(program, "w") as f:
                    f.write("\n".join([line_directive(b.start, rel)] + b.lines) + "\n")
                sources.append(program)
                continue
            body = []
            for at, code in b.setup:
                body += [line_directive(at, rel)] + code
            body.append(line_directive(b.start, rel))
            for line in b.lines:
                if line.startswith("#include"):
                    includes.append(line)
                    body.append("")  # keep the line numbers
                else:
                    body.append(line)
            for at, code in b.globals:
                globals_ += [line_directive(at, rel)] + code
            if b.kind == "continue":
                if not functions or functions[-1][0] != name:
                    sys.exit(f"{path}:{b.start}: 'continue' without a fragment before it")
                functions[-1][2].extend(body)
            else:
                functions.append((name, b.start, body))
    # Every fragment in one translation unit: the library's headers are parsed once.
    source = os.path.join(out_dir, "fragments.cpp")
    with open(source, "w") as f:
        f.write("// Every fragment of the documentation, each in a function of its own (generated).\n")
        extra = sorted(set(includes) - set(PRELUDE.split("\n")))
        f.write("\n".join(extra) + "\n" + PRELUDE)
        f.write("\n".join(globals_) + "\n")
        for name, start, body in functions:
            # [[maybe_unused]]: a fragment's results are what the prose talks about.
            f.write(f"namespace {name}_{start} {{\n[[maybe_unused]] void body() {{\n")
            f.write("\n".join(body) + f"\n}}\n}}  // namespace {name}_{start}\n")
    sources.append(source)
    with open(os.path.join(out_dir, "snippets.cmake"), "w") as f:
        f.write("set(TYPEFORMER_DOC_SNIPPETS\n" + "".join(f'  "{s}"\n' for s in sources) + ")\n")


if __name__ == "__main__":
    main()
