"""`tg.viz.graph(t)`: draw the autograd graph behind a result, as Graphviz DOT.

Every box is a Function node (what backward will call), every oval a leaf tensor that
gets a gradient, and every arrow a tensor flowing forward, labelled with its shape and
dtype. The result is at the bottom. The DOT text is always returned (and written to
`path` if given); with Graphviz's `dot` program installed, a path ending in .svg or .png
is rendered as that picture too.

    loss = (x @ w + b).relu().sum()
    print(tg.viz.graph(loss))
    tg.viz.graph(loss, "graph.svg")
"""
import pathlib
import shutil
import subprocess


def graph(tensor, path=None):
    """The DOT text of the graph that produced `tensor`; written to `path` (.dot, or rendered .svg/.png)."""
    lines = ["digraph autograd {", '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    ids = {}

    def name(obj, prefix):
        if id(obj) not in ids:
            ids[id(obj)] = f"{prefix}{len(ids)}"
        return ids[id(obj)]

    def shown(t):
        return f"{tuple(t.shape)} {t.dtype.name}"

    root = tensor.grad_fn
    result = name(tensor, "result")
    lines.append(f'  {result} [label="result\\n{shown(tensor)}", shape=note, style=filled, fillcolor="#fde9b5"];')
    if root is None:
        lines.append("}")
        return _finish("\n".join(lines) + "\n", path)
    lines.append(f'  {name(root, "op")} -> {result} [label="{shown(tensor)}"];')
    seen, stack = {id(root)}, [root]
    while stack:
        node = stack.pop()
        node_id = name(node, "op")
        lines.append(f'  {node_id} [label="{node.name}", shape=box, style=filled, fillcolor="#dbe8fb"];')
        for t, parent, needs in zip(node.inputs, node.parents, node.needs_input_grad):
            if parent is not None:
                source = name(parent, "op")
                if id(parent) not in seen:
                    seen.add(id(parent))
                    stack.append(parent)
            elif needs:
                source = name(t, "leaf")
                lines.append(f'  {source} [label="leaf\\n{shown(t)}", shape=ellipse, style=filled, '
                             f'fillcolor="#d9f2d9"];')
            else:
                source = name(t, "const")
                lines.append(f'  {source} [label="constant\\n{shown(t)}", shape=ellipse, color=gray, '
                             f'fontcolor=gray];')
            lines.append(f'  {source} -> {node_id} [label="{shown(t)}"];')
    lines.append("}")
    return _finish("\n".join(dict.fromkeys(lines)) + "\n", path)     # a leaf used twice is declared once


def _finish(dot, path):
    if path is None:
        return dot
    path = pathlib.Path(path)
    if path.suffix in (".svg", ".png") and shutil.which("dot"):
        subprocess.run(["dot", f"-T{path.suffix[1:]}", "-o", str(path)], input=dot.encode(), check=True)
    else:
        path.with_suffix(".dot").write_text(dot)
    return dot
