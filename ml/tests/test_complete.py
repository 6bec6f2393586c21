import cv2
import numpy as np

from ml.complete import complete_bodies


def _pale_and_dark_body(shape=(300, 300), seed=0, pale=(110, 60)):
    """A round body (radius 70) whose right part is dark and left part pale (bulging into the
    dark part: a disc centred at x = ``pale[0]`` of radius ``pale[1]``), with a thin dark rim, on
    a light noisy background; its truth mask and the dark part's mask."""
    truth = np.zeros(shape, np.uint8)
    cv2.circle(truth, (150, 150), 70, 1, -1)
    dark = truth.copy()
    cv2.circle(dark, (pale[0], 150), pale[1], 0, -1)  # the pale part bulges into the dark one: a concave outline
    img = np.full(shape, 0.85, np.float32)
    img[truth > 0] = 0.55  # the pale part: between the background and the dark part
    img[dark > 0] = 0.3
    cv2.circle(img, (150, 150), 70, 0.3, 2)  # the body's rim: its edge is the strongest
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    img += np.random.default_rng(seed).normal(0, 0.02, shape).astype(np.float32)
    return np.clip(img, 0, 1), truth, dark


def _iou(a, b):
    a, b = a > 0, b > 0
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def test_the_dark_part_of_a_pale_body_is_completed_to_the_body_rim():
    gray, truth, dark = _pale_and_dark_body()
    assert _iou(dark, truth) < 0.5
    done = complete_bodies(gray, dark.astype(np.int32))
    assert set(done) == {1}
    y0, x0, m = done[1]
    full = np.zeros_like(truth)
    full[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    assert _iou(full, truth) > 0.9


def test_a_body_whose_rim_lies_beyond_the_reach_of_its_dark_part_is_completed_with_the_wider_reach(monkeypatch):
    """The dark part is 42 % of the body: the pale part's far rim lies beyond ``REACH`` x the dark
    part's radius, where the background markers start, so flooding from them takes the pale part
    and the completion is refused; tried again with ``WIDER_REACH``, the body is completed."""
    import ml.complete

    gray, truth, dark = _pale_and_dark_body(pale=(113, 63))
    assert 0.4 < dark.sum() / truth.sum() < 0.45
    done = complete_bodies(gray, dark.astype(np.int32))
    y0, x0, m = done[1]
    full = np.zeros_like(truth)
    full[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    assert _iou(full, truth) > 0.9
    monkeypatch.setattr(ml.complete, "WIDER_REACH", None)
    assert complete_bodies(gray, dark.astype(np.int32)) == {}


def test_a_shallow_partial_outline_is_a_candidate_too(monkeypatch):
    """The pale part is a shallow cap (a quarter of the body): the dark part's outline is concave
    but 0.92 solid, under ``MAX_SOLIDITY`` (0.93), and it is completed; with 0.9 it is not tried."""
    import ml.complete
    from ml.postprocess import mask_solidity

    gray, truth, dark = _pale_and_dark_body(pale=(16, 110))
    assert 0.9 < mask_solidity(dark) < ml.complete.MAX_SOLIDITY
    y0, x0, m = complete_bodies(gray, dark.astype(np.int32))[1]
    full = np.zeros_like(truth)
    full[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    assert _iou(full, truth) > 0.95
    monkeypatch.setattr(ml.complete, "MAX_SOLIDITY", 0.9)
    assert complete_bodies(gray, dark.astype(np.int32)) == {}


def test_a_large_object_is_completed_on_a_shrunk_window(monkeypatch):
    """An object larger than ``WORK_RADIUS`` is completed on its window shrunk to that radius (the
    watershed's cost stays bounded at 4000 x 4000) and its new mask enlarged back to the window."""
    import ml.complete

    gray, truth, dark = _pale_and_dark_body()
    seen = []
    real_complete_one = ml.complete._complete_one

    def recording(window, *args, **kwargs):
        seen.append(window.shape)
        return real_complete_one(window, *args, **kwargs)

    monkeypatch.setattr(ml.complete, "_complete_one", recording)
    monkeypatch.setattr(ml.complete, "WORK_RADIUS", 30)  # the dark part's equivalent radius is 48
    y0, x0, m = complete_bodies(gray, dark.astype(np.int32))[1]
    assert seen[0][0] < 0.7 * m.shape[0] and seen[0][1] < 0.7 * m.shape[1]
    full = np.zeros_like(truth)
    full[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = m
    assert _iou(full, truth) > 0.9


def test_a_concave_body_with_nothing_around_it_keeps_its_outline():
    gray, truth, dark = _pale_and_dark_body()
    crescent = truth.copy()
    cv2.circle(crescent, (190, 150), 55, 0, -1)  # a bay of background
    img = np.where(crescent > 0, 0.15, 0.85).astype(np.float32)
    img = np.clip(cv2.GaussianBlur(img, (0, 0), 1.5) + np.random.default_rng(1).normal(0, 0.02, img.shape), 0, 1)
    assert complete_bodies(img.astype(np.float32), crescent.astype(np.int32)) == {}


def test_only_the_given_objects_are_completed_and_others_keep_their_pixels():
    gray, truth, dark = _pale_and_dark_body()
    labels = dark.astype(np.int32)
    assert complete_bodies(gray, labels, only={2}) == {}
    neighbour = np.zeros_like(truth)
    cv2.circle(neighbour, (60, 150), 22, 1, -1)  # a second object against the body's left rim
    labels[neighbour > 0] = 2
    done = complete_bodies(gray, labels, only={1})
    y0, x0, m = done[1]
    assert not np.any(m & (labels[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] == 2))
    assert m.sum() > 1.5 * dark.sum()


def _body_with_loose_cells_in_its_bite(seed):
    """A dark round body with a bite, the bite packed with loose cells (small dark discs)."""
    shape = (300, 300)
    rng = np.random.default_rng(seed)
    body = np.zeros(shape, np.uint8)
    cv2.circle(body, (150, 150), 70, 1, -1)
    bite = np.zeros(shape, np.uint8)
    cv2.circle(bite, (215, 150), 40, 1, -1)
    body[bite > 0] = 0
    img = np.full(shape, 0.85, np.float32)
    ys, xs = np.nonzero(bite)
    for i in rng.choice(len(ys), 260, replace=False):
        cv2.circle(img, (int(xs[i]), int(ys[i])), 3, 0.3, -1)
    img[body > 0] = 0.15
    img = cv2.GaussianBlur(img, (0, 0), 1.0) + rng.normal(0, 0.02, shape).astype(np.float32)
    return np.clip(img, 0, 1), body.astype(np.int32)


def test_a_body_is_not_grown_over_the_loose_cells_in_its_bite(monkeypatch):
    """Flooding fills the bite, but the moved outline runs through loose cells, a weaker edge than
    the body's own, so the body keeps its outline; without the edge test it would grow."""
    import ml.complete

    for seed in range(3):
        gray, body = _body_with_loose_cells_in_its_bite(seed)
        assert complete_bodies(gray, body) == {}
    monkeypatch.setattr(ml.complete, "MIN_EDGE_RATIO", 0.0)
    gray, body = _body_with_loose_cells_in_its_bite(0)
    assert set(complete_bodies(gray, body)) == {1}
