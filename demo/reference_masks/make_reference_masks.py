"""How the reference outlines in this folder were made (re-run: python demo/reference_masks/make_reference_masks.py).

No biologist was available: the outlines were made by the ML engineer, semi-manually. For
each spheroid body a generous region of interest (an ellipse or a hand-placed polygon, picked
by looking at zoomed crops) and a darkness threshold were chosen by eye; the mask is the
smoothed image below that threshold inside the region, holes filled, opened, the largest
component kept, and the boundary smoothed. Each result was checked visually on a zoomed
overlay (`*.overlay.png`). Loose cells, debris, the vesicle, the pale bubble, the grey
appendage right of the centre cluster spheroid and the small round cell clump below it are
deliberately not outlined. Labels: 16-bit PNG, 0 = background, 1..N = spheroids.
"""

from pathlib import Path

import cv2
import numpy as np

from ml.io import normalize, read_image

HERE = Path(__file__).resolve().parent
IMAGES = HERE.parent / "spheroids"

# (kind, params, threshold on the normalised, smoothed grey image)
OBJECTS = {
    "spheroid_single": [("ellipse", ((528, 482), (150, 150), 0), 0.45)],
    "spheroid_pair": [
        ("ellipse", ((445, 363), (92, 98), 0), 0.42),
        ("ellipse", ((583, 557), (150, 145), 0), 0.42),
    ],
    "spheroid_cluster": [
        ("ellipse", ((372, 428), (82, 78), 0), 0.55),
        ("polygon", [(480, 465), (520, 435), (560, 415), (590, 380), (620, 370), (655, 390), (680, 420),
                     (687, 465), (675, 510), (640, 535), (600, 550), (560, 545), (520, 520), (495, 495)], 0.5),
        ("ellipse", ((660, 575), (74, 57), -20), 0.72),
    ],
}


def make(name: str) -> np.ndarray:
    img, _ = read_image(IMAGES / f"{name}.png")
    g = cv2.GaussianBlur(normalize(img), (0, 0), 2.0)
    h, w = g.shape
    labels = np.zeros((h, w), np.uint16)
    rois = []
    for kind, params, _t in OBJECTS[name]:
        roi = np.zeros((h, w), np.uint8)
        if kind == "ellipse":
            (cx, cy), (ax, ay), ang = params
            cv2.ellipse(roi, (cx, cy), (ax, ay), ang, 0, 360, 1, -1)
        else:
            cv2.fillPoly(roi, [np.array(params, np.int32)], 1)
            roi = cv2.dilate(roi, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17)))
        rois.append(roi)
    # overlapping regions go to the region whose centre is nearer
    dists = []
    for roi in rois:
        d = cv2.distanceTransform(roi, cv2.DIST_L2, 5)
        dists.append(d)
    owner = np.argmax(np.stack(dists), axis=0)
    for i, ((kind, params, t), roi) in enumerate(zip(OBJECTS[name], rois), start=1):
        m = ((g < t) & (roi > 0) & (owner == i - 1)).astype(np.uint8)
        n, lab, st, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        if n <= 1:
            continue
        m = (lab == 1 + int(np.argmax(st[1:, 4]))).astype(np.uint8)
        ff = m.copy()
        cv2.floodFill(ff, np.zeros((h + 2, w + 2), np.uint8), (0, 0), 1)
        m = m | (1 - ff)  # fill holes
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k)
        m = (cv2.GaussianBlur(m.astype(np.float32), (0, 0), 2.0) > 0.5).astype(np.uint8)
        n, lab, st, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        m = lab == 1 + int(np.argmax(st[1:, 4]))
        labels[m & (labels == 0)] = i
    return labels


def main():
    for name in OBJECTS:
        labels = make(name)
        cv2.imwrite(str(HERE / f"{name}.png"), labels)
        img, _ = read_image(IMAGES / f"{name}.png")
        ov = cv2.cvtColor((normalize(img) * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        for i in range(1, int(labels.max()) + 1):
            cs, _ = cv2.findContours((labels == i).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(ov, cs, -1, (0, 0, 255), 1)
        cv2.imwrite(str(HERE / f"{name}.overlay.png"), ov)
        print(name, int(labels.max()), [int((labels == i).sum()) for i in range(1, int(labels.max()) + 1)])


if __name__ == "__main__":
    main()
