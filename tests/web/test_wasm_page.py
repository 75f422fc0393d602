"""The page web/index.html in headless Chromium (Debian's package), as a user sees it: a .nnz file
chosen in the file input is decoded in the Web Worker; the tensor table, the progress bar, the
restored files' names, sizes and SHA-256, and the bytes behind each download link are checked
against the Python decoder and the original model files."""

from __future__ import annotations

import pytest
import hashlib

from conftest import GOLDEN, WEB, need, python_tensors

from chromium import Chromium, StaticServer

pytestmark = pytest.mark.filterwarnings(r"ignore:.*deprecated.*:DeprecationWarning")  # torch.jit.script

TABLE = "(id) => Array.from(document.querySelectorAll(`#${id} tbody tr`), (r) => Array.from(r.cells, (c) => c.textContent))"
# SHA-256 of the bytes each download link serves, computed by the page's own crypto.subtle.
LINK_HASHES = """Promise.all(Array.from(document.querySelectorAll('#files a'), async (a) => {
  const bytes = await (await fetch(a.href)).arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [a.textContent, a.download, Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')];
}))"""


@pytest.fixture(scope="module")
def page(wasm, tmp_path_factory):
    need("chromium", "chromium")
    with StaticServer({"/": WEB}) as server, Chromium(timeout=120) as browser:
        tab = browser.new_page()
        tab.url = server.url + "/index.html"
        yield tab


def decode_in_page(page, path, bases: list | None = None) -> dict:
    page.navigate(page.url)
    assert page.evaluate("document.body.dataset.state") == "idle"
    if bases:
        page.set_file_input("#base", bases)
    page.set_file_input("#file", path)
    return page_result(page)


def page_result(page) -> dict:
    state = page.wait_for("['done', 'error'].includes(document.body.dataset.state) && document.body.dataset.state")
    return {"state": state, "status": page.evaluate("document.getElementById('status').textContent"),
            "tensors": page.evaluate(f"({TABLE})('tensors')"), "files": page.evaluate(f"({TABLE})('files')"),
            "progress": page.evaluate("[document.getElementById('progress').value, document.getElementById('progress').max]"),
            "messages": page.messages()}


def expected_rows(path, base=None) -> list[list[str]]:
    return [[name, t["dtype"], "×".join(map(str, t["shape"])) if t["shape"] else "scalar", t["codec"],
             str(t["codedBytes"])] for name, t in python_tensors(path, base).items()]


@pytest.mark.parametrize("case", ["onnx-external", "safetensors-sharded", "example-eb"])
def test_page_restores_the_model_files_and_serves_them_for_download(page, restorable, case):
    r = decode_in_page(page, restorable[case].nnz)
    assert r["state"] == "done", r
    assert r["tensors"] == expected_rows(restorable[case].nnz)
    want = restorable[case].decoded  # what nncodec decode writes (= the originals when lossless)
    assert [(name, digest) for name, _, digest in r["files"]] == list(want.items())
    total = sum(int(size) for _, size, _ in r["files"])
    assert r["progress"] == [total, total]
    links = page.evaluate(LINK_HASHES, await_promise=True)
    assert [(name, digest) for name, _, digest in links] == list(want.items())
    assert all(download == name.split("/")[-1] for name, download, _ in links)
    assert not r["messages"], r["messages"]


def test_page_lists_the_tensors_of_a_format_1_0_file_and_says_why_nothing_is_restored(page):
    path = GOLDEN / "v1" / "tensors.nnz"
    r = decode_in_page(page, path)
    assert r["state"] == "done" and "1.1" in r["status"], r
    assert r["tensors"] == expected_rows(path)
    assert r["files"] == []


def test_page_shows_the_librarys_error_for_a_damaged_file(page, restorable, tmp_path):
    data = restorable["onnx-external"].nnz.read_bytes()
    damaged = tmp_path / "damaged.nnz"
    damaged.write_bytes(data[: len(data) // 3])
    r = decode_in_page(page, damaged)
    assert r["state"] == "error" and "Cannot read this file" in r["status"] and "(code 1)" in r["status"], r
    assert r["tensors"] == [] and r["files"] == []


def test_page_restores_a_checkpoint_with_the_chain_of_base_files_chosen_beside_it(page, checkpoints):
    """The last of three checkpoints, each coded against the one before: with the two earlier .nnz
    files chosen as bases, the page restores the model file byte for byte."""
    last = checkpoints[-1]
    r = decode_in_page(page, last.nnz, bases=[c.nnz for c in checkpoints[:-1]])
    assert r["state"] == "done", r
    assert r["tensors"] == expected_rows(last.nnz, base=checkpoints[-2].nnz)
    assert [(name, digest) for name, _, digest in r["files"]] == [
        (last.model.name, hashlib.sha256(last.model.read_bytes()).hexdigest())]
    assert not r["messages"], r["messages"]


def test_page_asks_for_the_base_a_file_needs_then_restores_it_once_chosen(page, checkpoints):
    """Without its base the page lists the tensors and names the base file it needs (code 11);
    choosing that file afterwards decodes it again, to the original bytes."""
    first, second = checkpoints[0], checkpoints[1]
    r = decode_in_page(page, second.nnz)
    assert r["state"] == "error" and "Cannot attach the base model" in r["status"], r
    assert first.nnz.name in r["status"] and "(code 11)" in r["status"], r
    assert r["tensors"] == expected_rows(second.nnz, base=first.nnz) and r["files"] == []
    page.set_file_input("#base", [first.nnz])
    page.wait_for("document.body.dataset.state !== 'error'")  # decoding again, or already done
    r = page_result(page)
    assert r["state"] == "done", r
    assert [(name, digest) for name, _, digest in r["files"]] == [
        (second.model.name, hashlib.sha256(second.model.read_bytes()).hexdigest())]
