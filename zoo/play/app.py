"""The playground's Gradio app: one tab per export, its widgets built from the roles its signatures
declare (zoo.contract), its model card beside them.

Roles -> widgets: seed (a number, "new seed", a count for a grid), class_label (the class names),
categorical_code and uniform_code (sliders at their range), latent (a seed whose latent is used,
and an interpolation to a second seed), parameter (a slider at its range and default; a `prefix`
parameter streams the output), image (upload or sketchpad, converted to the declared shape), text
(a box). Outputs: images (a gallery, "download all", keep/reject), text, log_likelihood (bits per
byte or per dimension), anything else as JSON. A role the app does not know is a JSON box.
"""

import os
import random
import tempfile
import time

import numpy as np

from zoo import contract
from zoo.errors import UserError
from zoo.play import handlers

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# A parameter whose range is wider than this is a number box, not a slider (temperature 1e-6..1e6).
SLIDER_SPAN = 1000
MAX_UPLOAD = "2mb"


def _gradio():
    import gradio as gr

    return gr


class _Panel:
    """The widgets of one signature of one export, and what to do with their values."""

    def __init__(self, entry, signature, backend, keeper, downloads):
        self.entry, self.signature, self.backend, self.keeper = entry, signature, backend, keeper
        self.downloads = downloads
        self.inputs = []  # [(spec, [components], how)] in signature order.
        self.image_output = signature.output_with(contract.IMAGES)
        self.text_output = signature.output_with(contract.TEXT)
        self.scores = signature.output_with(contract.LOG_LIKELIHOOD) is not None
        self.seed = signature.input_with(contract.SEED)
        self.latent = signature.input_with(contract.LATENT)
        self.label = signature.input_with(contract.CLASS_LABEL)
        self.stream = handlers.streaming_parameter(signature) if self.text_output else None

    # Widgets ---------------------------------------------------------------------------------
    def build(self):
        gr = _gradio()
        seed_like = self.seed or self.latent
        with gr.Row():
            with gr.Column():
                for spec in self.signature.inputs:
                    self.inputs.append((spec, *self._widget(spec)))
                if seed_like is not None:
                    self.count = gr.Slider(1, handlers.MAX_GRID, value=16 if self.image_output else 1, step=1,
                                           label="count (a grid of consecutive seeds)")
                run = gr.Button("Generate" if seed_like is not None else "Run", variant="primary")
            with gr.Column():
                self.note = gr.Markdown("")
                outputs = self._outputs()
        components = [component for _, components, _ in self.inputs for component in components]
        if seed_like is not None:
            components.append(self.count)
        handler = self._stream_handler if self.stream else self._run_handler
        run.click(handler, components, outputs, api_name=f"{handlers.safe_name(self.entry.name)}__{self.signature.name}")
        if self.image_output is not None:
            self._keep_controls()
            if self.latent is not None:
                self._interpolation(components)
            integers = [spec for spec in self.signature.inputs_with(contract.PARAMETER) if spec.dtype == "int64"]
            if integers:
                self._sweep(components, integers)

    def _widget(self, spec):
        """([components], how its values become one row's value)."""
        gr = _gradio()
        label = f"{spec.name} ({spec.role})"
        if spec.role in (contract.SEED, contract.LATENT):
            with gr.Row():
                number = gr.Number(value=0, precision=0, minimum=0, label=f"{spec.name}: seed" +
                                   (" (its latent is a standard normal draw of this seed)" if spec.role == contract.LATENT else ""))
                new = gr.Button("new seed", size="sm")
            new.click(lambda: random.randrange(0, 2**31), None, number, api_visibility="private")
            return [number], "seed"
        if spec.role == contract.CLASS_LABEL:
            names = handlers.class_names(self.entry, spec)
            choices = [(f"{value}: {name}" if name != str(value) else name, value) for value, name in enumerate(names)]
            choices.append(("every class (balanced)", -1))
            return [gr.Dropdown(choices, value=-1 if self.seed else 0, label=label)], "label"
        if spec.role == contract.CATEGORICAL_CODE:
            return [gr.Slider(0, spec.num_values - 1, value=0, step=1, label=label)], "integer"
        if spec.role == contract.UNIFORM_CODE:
            low, high = spec.low if spec.low is not None else -1.0, spec.high if spec.high is not None else 1.0
            sliders = [gr.Slider(low, high, value=(low + high) / 2, step=(high - low) / 100,
                                 label=f"{spec.name}[{index}]") for index in range(int(np.prod(spec.shape)))]
            return sliders, "vector"
        if spec.role == contract.PARAMETER:
            kind = "integer" if spec.dtype == "int64" else "number"
            text = f"{spec.name} ({spec.low:g} to {spec.high:g}, default {spec.default:g})"
            if spec.high - spec.low <= SLIDER_SPAN:
                step = 1 if spec.dtype == "int64" else (spec.high - spec.low) / 100
                return [gr.Slider(spec.low, spec.high, value=spec.default, step=step, label=text)], kind
            return [gr.Number(value=spec.default, minimum=spec.low, maximum=spec.high, label=text)], kind
        if spec.role == contract.IMAGE:
            height, width, channels = spec.shape
            with gr.Tabs():
                with gr.Tab("upload"):
                    upload = gr.Image(type="numpy", sources=["upload", "clipboard"],
                                      label=f"{spec.name}: any image, converted to {width}x{height}x{channels}")
                with gr.Tab("draw"):
                    sketch = gr.Sketchpad(type="numpy", canvas_size=(280, 280), label=f"{spec.name}: draw",
                                          brush=gr.Brush(colors=["#ffffff", "#000000"], default_color="#ffffff"))
            source = gr.Radio(["upload", "drawing"], value="upload", label="use")
            return [upload, sketch, source], "image"
        if spec.role == contract.TEXT:
            example = spec.example_row().item() if spec.example is not None else b"The "
            value = example.decode("utf-8", "replace") if isinstance(example, bytes) else str(example)
            return [gr.Textbox(value=value, lines=3, label=label)], "text"
        return [gr.Textbox(value="", label=f"{spec.name} ({spec.role}, {spec.dtype}{list(spec.shape)}) as JSON")], "json"

    def _outputs(self):
        gr = _gradio()
        self.output_components = {}
        if self.image_output is not None:
            self.gallery = gr.Gallery(label="samples (click one to keep it)", columns=4, height="auto", format="png",
                                      object_fit="contain")
            self.zip = gr.File(label="download all (PNGs named by their inputs)")
        if self.text_output is not None:
            self.text = gr.Textbox(label="text", lines=8)
        if self.scores:
            self.score = gr.Markdown("")
        others = [name for name, role in self.signature.outputs.items()
                  if role not in (contract.IMAGES, contract.TEXT) and not self.scores]
        self.json = gr.JSON(label="outputs") if others or not (self.image_output or self.text_output or self.scores) else None
        self.latency = gr.Markdown("")
        self.state = gr.State(None)
        return [component for component in (getattr(self, "gallery", None), getattr(self, "zip", None),
                                             getattr(self, "text", None), getattr(self, "score", None),
                                             self.json, self.note, self.latency, self.state) if component is not None]

    # Requests --------------------------------------------------------------------------------
    def values(self, flat):
        """(request, rows, per-row inputs for keeping, notes) from the widgets' values in order."""
        flat = list(flat)
        count = int(flat.pop()) if (self.seed or self.latent) is not None else 1
        rows, seeds, notes, values, per_row = count, None, [], {}, {}
        position = 0
        for spec, components, how in self.inputs:
            given = flat[position:position + len(components)]
            position += len(components)
            if how == "seed":
                seeds = handlers.seeds_for(given[0] if given[0] is not None else 0, count)
                values[spec.name] = seeds if spec.role == contract.SEED else handlers.latents_for(spec, seeds)
                per_row["seed"] = seeds
            elif how == "label":
                label = int(given[0])
                values[spec.name] = (np.arange(rows) % spec.num_values) if label < 0 else np.full(rows, label)
                per_row[spec.name] = values[spec.name]
            elif how == "integer":
                values[spec.name] = handlers.check_parameter(spec, given[0]) if spec.role == contract.PARAMETER else int(given[0])
            elif how == "number":
                values[spec.name] = handlers.check_parameter(spec, given[0])
            elif how == "vector":
                values[spec.name] = np.asarray(given, np.float32).reshape(spec.shape)
            elif how == "image":
                upload, sketch, source = given
                picture, note = handlers.fit_image(upload if source == "upload" else sketch, spec.shape)
                values[spec.name] = picture
                if note:
                    notes.append(f"{spec.name}: {note}")
            elif how == "text":
                if not given[0]:
                    raise UserError(f"{spec.name}: type some text first")
                values[spec.name] = given[0].encode("utf-8")
            else:
                import json

                try:
                    values[spec.name] = json.loads(given[0])
                except ValueError as error:
                    raise UserError(f"{spec.name} must be JSON ({spec.dtype}{list(spec.shape)}): {error}") from None
        request = handlers.request_for(self.signature, values, rows)
        return request, rows, per_row, notes

    def _call(self, request):
        return self.backend.call(self.entry, self.signature.name, request)

    def _latency(self):
        seconds = self.backend.last_seconds.get(self.entry.key)
        return f"last request: {seconds * 1000:.0f} ms ({self.backend.description})" if seconds is not None else ""

    def _answer(self, request, outputs, rows, per_row, notes):
        update = {self.note: "\n\n".join(f"*{note}*" for note in notes), self.latency: self._latency()}
        if self.image_output is not None:
            images = outputs[self.image_output]
            names = [self._row_name(per_row, row) for row in range(len(images))]
            update[self.gallery] = [(image.squeeze(-1) if image.shape[-1] == 1 else image, name)
                                    for image, name in zip(images, names)]
            path = os.path.join(self.downloads, f"{handlers.safe_name(self.entry.name)}_{int(time.time() * 1000)}.zip")
            with open(path, "wb") as f:
                f.write(handlers.grid_zip(images, names))
            update[self.zip] = path
            update[self.state] = {"images": images, "rows": [{key: value[row].item() if hasattr(value[row], "item")
                                                              else value[row] for key, value in per_row.items()}
                                                             for row in range(len(images))],
                                  "request": {key: value.tolist() for key, value in request.items()
                                              if value.dtype != object and value.ndim == 1}}
        if self.text_output is not None:
            update[self.text] = "\n\n---\n\n".join(value.decode("utf-8", "replace")
                                                   for value in outputs[self.text_output])
        if self.scores:
            update[self.score] = "\n\n".join(handlers.likelihood_summary(self.signature, outputs, request))
        if self.json is not None:
            update[self.json] = {name: np.asarray(value).tolist() for name, value in outputs.items()}
        return update

    @staticmethod
    def _row_name(per_row, row):
        return "_".join(f"{key}_{np.asarray(value[row]).item()}" for key, value in per_row.items()) or f"row_{row}"

    def _run_handler(self, *flat):
        gr = _gradio()
        try:
            request, rows, per_row, notes = self.values(flat)
            outputs = self._call(request)
        except UserError as error:
            raise gr.Error(str(error)) from None
        return self._answer(request, outputs, rows, per_row, notes)

    def _stream_handler(self, *flat):
        """Text that appears as it is produced: the same request with the prefix parameter grown
        8, 16, 32, ... up to the asked length (each answer extends the last, the declared prefix
        property), so what streams is exactly what one call would return."""
        gr = _gradio()
        try:
            request, rows, per_row, notes = self.values(flat)
            total = int(request[self.stream.name].max())
            for length in handlers.stream_lengths(total):
                step = dict(request, **{self.stream.name: np.minimum(request[self.stream.name], length)})
                outputs = self._call(step)
                yield self._answer(step, outputs, rows, per_row, notes)
        except UserError as error:
            raise gr.Error(str(error)) from None

    # Extras ----------------------------------------------------------------------------------
    def _keep_controls(self):
        gr = _gradio()
        with gr.Row():
            index = gr.Number(value=0, precision=0, minimum=0, label="sample # (click one in the gallery)")
            keep = gr.Button("keep", size="sm")
            reject = gr.Button("reject", size="sm")
        kept = gr.Markdown("")

        def selected(event: gr.SelectData):
            return event.index

        self.gallery.select(selected, None, index, api_visibility="private")
        name = f"{handlers.safe_name(self.entry.name)}__{self.signature.name}"
        keep.click(lambda number, state: self._keep(number, state, True), [index, self.state], kept,
                   api_name=f"{name}__keep")
        reject.click(lambda number, state: self._keep(number, state, False), [index, self.state], kept,
                     api_name=f"{name}__reject")

    def _keep(self, number, state, kept):
        gr = _gradio()
        try:
            if not state:
                raise UserError("generate some samples first")
            row = int(number)
            if not 0 <= row < len(state["images"]):
                raise UserError(f"sample # must be between 0 and {len(state['images']) - 1}")
            inputs = {**{key: value[row] for key, value in state["request"].items() if len(value) > row},
                      **state["rows"][row]}
            class_name, classes = None, None
            if self.label is not None:
                classes = handlers.class_names(self.entry, self.label)
                class_name = classes[int(inputs[self.label.name])]
            path = self.keeper.record(self.entry, state["images"][row], inputs, kept, class_name, classes)
        except UserError as error:
            raise gr.Error(str(error)) from None
        return f"kept sample {row} as `{path}`" if kept else f"rejected sample {row} (logged)"

    def _interpolation(self, components):
        gr = _gradio()
        with gr.Accordion("interpolate between two seeds (slerp through the latent)", open=False):
            with gr.Row():
                seed_b = gr.Number(value=1, precision=0, minimum=0, label="to seed")
                frames = gr.Slider(2, handlers.MAX_FRAMES, value=10, step=1, label="frames")
                go = gr.Button("interpolate")
            strip = gr.Image(label="interpolation", type="numpy", format="png")
            gif = gr.File(label="animated GIF")

        def interpolate(*flat):
            try:
                *widgets, seed_b_value, frames_value = flat
                widgets[-1] = 1  # One row per frame: the count slider does not apply.
                request, _, per_row, _ = self.values(widgets)
                seed_a = int(per_row["seed"][0])
                latents = handlers.interpolation_latents(self.latent, seed_a, seed_b_value, frames_value)
                rows = len(latents)
                request = {key: (latents if key == self.latent.name else np.repeat(value[:1], rows, axis=0))
                           for key, value in request.items()}
                images = self._call(request)[self.image_output]
            except UserError as error:
                raise gr.Error(str(error)) from None
            path = os.path.join(self.downloads, f"{handlers.safe_name(self.entry.name)}_{int(time.time() * 1000)}.gif")
            with open(path, "wb") as f:
                f.write(handlers.gif_bytes(images))
            grid = handlers.strip(images)
            return grid.squeeze(-1) if grid.shape[-1] == 1 else grid, path

        go.click(interpolate, components + [seed_b, frames], [strip, gif],
                 api_name=f"{handlers.safe_name(self.entry.name)}__{self.signature.name}__interpolate")

    def _sweep(self, components, integers):
        gr = _gradio()
        with gr.Accordion("compare values of a parameter side by side", open=False):
            with gr.Row():
                which = gr.Dropdown([spec.name for spec in integers], value=integers[0].name, label="parameter")
                go = gr.Button("compare")
            gallery = gr.Gallery(label="one sample per value", columns=9, height="auto", object_fit="contain", format="png")

        def sweep(*flat, progress=gr.Progress()):
            try:
                *widgets, name = flat
                if (self.seed or self.latent) is not None:
                    widgets[-1] = 1  # One sample per value: the count slider does not apply.
                request, _, _, _ = self.values(widgets)
                spec = next(spec for spec in integers if spec.name == name)
                shown = []
                values = handlers.sweep_values(spec)
                for done, value in enumerate(values):
                    progress(done / len(values), desc=f"{name}={value}")
                    outputs = self._call(dict(request, **{name: np.full(1, value, np.int64)}))
                    image = outputs[self.image_output][0]
                    shown.append((image.squeeze(-1) if image.shape[-1] == 1 else image,
                                  f"{name}={value} ({self.backend.last_seconds[self.entry.key] * 1000:.0f} ms)"))
                    yield shown
            except UserError as error:
                raise gr.Error(str(error)) from None

        go.click(sweep, components + [which], gallery,
                 api_name=f"{handlers.safe_name(self.entry.name)}__{self.signature.name}__compare")


def build(entries, backend, keep_dir=None, title="zoo playground"):
    """The gr.Blocks app over `entries` (zoo.play.backends.discover) called through `backend`."""
    gr = _gradio()
    from zoo.play import backends

    timed = backend if isinstance(backend, backends.Timed) else backends.Timed(backend)
    keeper = handlers.Keeper(keep_dir)
    downloads = tempfile.mkdtemp(prefix="zoo-play-")
    usable = [entry for entry in entries if not entry.error]
    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\n{len(usable)} of {len(entries)} exports usable, served by {timed.description}. "
                    "Every widget comes from what the export declares (`assets.extra/zoo_export.json`)."
                    + (f" Kept samples go to `{keeper.keep_dir}`." if keeper.keep_dir else
                       " Start with `--keep_dir=<folder>` to keep samples for fine-tuning."))
        broken = [entry for entry in entries if entry.error]
        if broken:
            gr.Markdown("**Not loaded:** " + "; ".join(f"`{entry.name}`: {entry.error}" for entry in broken))
        if not usable:
            gr.Markdown("No usable exports found: pass `--exports=<folder of exports>` or `--runs=<folder of runs>`.")
        with gr.Tabs():
            for entry in usable:
                with gr.Tab(entry.name):
                    with gr.Row():
                        with gr.Column(scale=3):
                            gr.Markdown(f"### {entry.name} (version {entry.version})"
                                        + (f": {entry.headline}" if entry.headline else ""))
                            for index, (signature, aliases) in enumerate(handlers.describe_signatures(entry.interface)):
                                title_text = signature.name + (f" (also {', '.join(aliases)})" if aliases else "")
                                with gr.Accordion(title_text, open=index == 0):
                                    _Panel(entry, signature, timed, keeper, downloads).build()
                        with gr.Column(scale=2):
                            with gr.Accordion("model card", open=True):
                                gr.Markdown(entry.card_markdown or "This export has no model card.")
    app.zoo_backend = timed
    return app


def _patient_url_ok(url, patience=60.0):
    """Gradio's launch asks its just-started server for its own URL and, if one request takes more
    than 3 s, refuses to serve without a public share link (gradio-app/gradio#8671). On 2 cores busy
    with a training that first answer can take longer: keep asking, up to `patience` seconds."""
    import httpx

    deadline = time.monotonic() + patience
    while True:
        try:
            if httpx.head(url, timeout=10, verify=False).status_code in (200, 301, 302, 303, 307, 308, 401):
                return True
        except (httpx.ConnectError, httpx.TimeoutException):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def launch(app, host="127.0.0.1", port=7860, block=True):
    """Serves `app` on host:port (never a public share link); returns (app, local URL)."""
    from gradio import networking

    app.queue(default_concurrency_limit=2)
    impatient, networking.url_ok = networking.url_ok, _patient_url_ok
    try:
        app.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=not block, quiet=True,
                   show_error=False, max_file_size=MAX_UPLOAD, inbrowser=False, footer_links=["api"])
    finally:
        networking.url_ok = impatient
    return app, app.local_url
