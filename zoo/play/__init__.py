"""The browser playground (zoo-play): every export under the given roots in one Gradio app, its
widgets generated from what the export declares (see zoo.play.app), called in-process or through
TF Serving's REST API (zoo.play.backends). Gradio is an optional extra (`pip install zoo[play]`):
nothing here imports it until an app is built.
"""
