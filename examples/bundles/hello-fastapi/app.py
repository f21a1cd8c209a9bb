"""An API to publish as interactive content: execenv serves it at /content/<guid>/."""

from fastapi import FastAPI, Request

app = FastAPI(title="hello-fastapi")


@app.get("/")
def hello(request: Request):
    return {
        "hello": request.headers.get("x-execenv-user", "world"),
        "served_under": request.scope.get("root_path", ""),
    }


@app.get("/square/{n}")
def square(n: int):
    return {"n": n, "square": n * n}
