from hkllm.cli import app

app(prog_name="hkllm")
