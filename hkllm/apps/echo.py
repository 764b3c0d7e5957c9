"""The echo app: returns its input text unchanged. The smallest real app; the tests and the docs use it,
and it runs without a model (``needs_engine = False``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hkllm.apps.base import App, AppContext

MAX_ECHO_CHARS = 10_000


class EchoInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_ECHO_CHARS, description="Any text.")


class EchoOutput(BaseModel):
    text: str = Field(description="The input text, unchanged.")


class EchoApp(App[EchoInput, EchoOutput]):
    id = "echo"
    title = "Echo"
    description = "Returns the text it is given. A check that apps are wired up; uses no model."
    Input = EchoInput
    Output = EchoOutput
    needs_engine = False

    async def run(self, input: EchoInput, ctx: AppContext) -> EchoOutput:
        return EchoOutput(text=input.text)
