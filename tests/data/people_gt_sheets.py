"""Render frames zoomed with a labelled grid, and polygons overlaid, for hand labelling."""
import sys, json, numpy as np, cv2, av
def frames(path, want):
    out = {}
    with av.open(path) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in want: out[i] = f.to_ndarray(format="rgb24")
            if i >= max(want): break
    return out
def grid(img, zoom, step, crop=None, polys=()):
    x0, y0 = 0, 0
    if crop:
        x0, y0, x1, y1 = crop; img = img[y0:y1, x0:x1]
    big = cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)[..., ::-1].copy()
    h, w = big.shape[:2]
    for x in range((x0 // step + 1) * step - x0 if x0 % step else 0, img.shape[1], step):
        cv2.line(big, (x * zoom, 0), (x * zoom, h), (0, 255, 255) if (x + x0) % (5*step) == 0 else (0, 160, 160), 1)
        cv2.putText(big, str(x + x0), (x * zoom + 2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 255, 0), 1)
    for y in range((y0 // step + 1) * step - y0 if y0 % step else 0, img.shape[0], step):
        cv2.line(big, (0, y * zoom), (w, y * zoom), (0, 255, 255) if (y + y0) % (5*step) == 0 else (0, 160, 160), 1)
        cv2.putText(big, str(y + y0), (2, y * zoom + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 255, 0), 1)
    for poly in polys:
        pts = (np.array(poly, np.float32) - [x0, y0]) * zoom
        cv2.polylines(big, [pts.astype(np.int32)], True, (255, 0, 255), 1)
        for p in pts: cv2.circle(big, tuple(int(v) for v in p), 2, (255, 0, 255), -1)
    return big
if __name__ == "__main__":
    path, idx, zoom, step, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    crop = tuple(int(v) for v in sys.argv[6].split(",")) if len(sys.argv) > 6 and sys.argv[6] else None
    polys = json.loads(sys.argv[7]) if len(sys.argv) > 7 else []
    img = frames(path, {idx})[idx]
    cv2.imwrite(out, grid(img, zoom, step, crop, polys))
