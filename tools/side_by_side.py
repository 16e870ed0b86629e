"""Puts images side by side with a caption above each: `make demo`'s shipped-vs-trained picture.

    python tools/side_by_side.py grid_shipped.png "shipped export" grid.png "your run" --out=demo.png
"""

import argparse

from PIL import Image, ImageDraw

CAPTION_HEIGHT = 16
GAP = 12


def side_by_side(images, captions):
    """One RGB image: `images` in a row on white, each under its caption."""
    height = max(image.height for image in images) + CAPTION_HEIGHT
    width = sum(image.width for image in images) + GAP * (len(images) - 1)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    left = 0
    for image, caption in zip(images, captions):
        draw.text((left + 2, 2), caption, fill="black")
        canvas.paste(image.convert("RGB"), (left, CAPTION_HEIGHT))
        left += image.width + GAP
    return canvas


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="image caption [image caption ...]")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if len(args.pairs) % 2:
        parser.error("give an image path and a caption for each image")
    paths, captions = args.pairs[0::2], args.pairs[1::2]
    side_by_side([Image.open(path) for path in paths], captions).save(args.out)
    print(f"wrote {args.out}: {' | '.join(f'{caption} ({path})' for path, caption in zip(paths, captions))}")


if __name__ == "__main__":
    main()
