"""A stylised frontal body: skeleton sampling, BODY_25 keypoints and the drawing primitives.

Pixel coordinates ``(x, y)`` of the person image. Side index 0 is the subject's
right (image left), 1 the subject's left (image right), as in OpenPose and CIHP.
The body is sampled in a tilted frame: ``down`` points from the neck to the hips,
``across`` from the subject's right to the left.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vton.types import NUM_KEYPOINTS, Body25

ARM_POSES = ("down", "out", "akimbo", "cross")
SIDES = (-1.0, 1.0)  # sign of `across` for the subject's right, left
_SHIFT = 4  # OpenCV sub-pixel bits for drawing
_ONE = 1 << _SHIFT


@dataclass
class Body:
    """A sampled body; every point is a float ``(2,)`` pixel position; per-side pairs are ``(right, left)``."""

    size: tuple[int, int]
    down: np.ndarray
    across: np.ndarray
    neck: np.ndarray  # BODY_25 neck: the mid-shoulder point
    shoulders: tuple[np.ndarray, np.ndarray]
    elbows: tuple[np.ndarray, np.ndarray]
    wrists: tuple[np.ndarray, np.ndarray]
    hips: tuple[np.ndarray, np.ndarray]  # hip joints (keypoints), inside the hip outline
    knees: tuple[np.ndarray, np.ndarray]
    ankles: tuple[np.ndarray, np.ndarray]
    head: np.ndarray  # centre of the face ellipse
    head_axes: tuple[float, float]  # face half-width, half-height
    chin: np.ndarray
    shoulder_half: float  # half shoulder width (joint to joint / 2)
    hip_half: float  # half width of the hip outline
    arm_radius: float  # upper arm radius at the shoulder
    forearm_radius: float
    leg_radius: float
    neck_radius: float
    arm_pose: str
    arm_order: tuple[int, int]  # which arm is drawn first (behind)
    yaw: float = 0.0  # turn towards the subject's left (> 0): that side foreshortened, the face features shift

    @property
    def mid_hip(self) -> np.ndarray:
        return (self.hips[0] + self.hips[1]) / 2

    @property
    def torso_length(self) -> float:
        return float(np.linalg.norm(self.mid_hip - self.neck))

    def shoulder_top(self, side: int) -> np.ndarray:
        """Where a garment's shoulder seam sits: on top of, and just outside, the shoulder joint."""
        return self.shoulders[side] + SIDES[side] * self.across * self.arm_radius * 0.75 - self.down * self.arm_radius * 0.8

    def face_points(self) -> dict[Body25, np.ndarray]:
        ax, ay = self.head_axes
        up = -self.down
        turn = self.across * ax * self.yaw
        return {
            Body25.NOSE: self.head + self.down * ay * 0.18 + turn * 1.2,
            Body25.R_EYE: self.head - self.across * ax * 0.38 + up * ay * 0.12 + turn * 0.8,
            Body25.L_EYE: self.head + self.across * ax * 0.38 + up * ay * 0.12 + turn * 0.8,
            Body25.R_EAR: self.head - self.across * ax * 0.97,
            Body25.L_EAR: self.head + self.across * ax * 0.97,
        }

    def keypoints(self, hidden: set[Body25] = frozenset()) -> np.ndarray:
        """BODY_25 ``float32 (25, 3)``; points outside the frame or in ``hidden`` are ``(0, 0, 0)``."""
        kp = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        pts = {
            Body25.NECK: self.neck, Body25.MID_HIP: self.mid_hip,
            Body25.R_SHOULDER: self.shoulders[0], Body25.L_SHOULDER: self.shoulders[1],
            Body25.R_ELBOW: self.elbows[0], Body25.L_ELBOW: self.elbows[1],
            Body25.R_WRIST: self.wrists[0], Body25.L_WRIST: self.wrists[1],
            Body25.R_HIP: self.hips[0], Body25.L_HIP: self.hips[1],
            Body25.R_KNEE: self.knees[0], Body25.L_KNEE: self.knees[1],
            Body25.R_ANKLE: self.ankles[0], Body25.L_ANKLE: self.ankles[1],
            **self.face_points(),
        }
        foot = self.leg_radius * 1.6
        for side, (big, small, heel) in enumerate([(Body25.R_BIG_TOE, Body25.R_SMALL_TOE, Body25.R_HEEL),
                                                    (Body25.L_BIG_TOE, Body25.L_SMALL_TOE, Body25.L_HEEL)]):
            a = self.ankles[side]
            s = SIDES[side]
            pts[big] = a + self.down * foot * 0.6 - s * self.across * foot * 0.3
            pts[small] = a + self.down * foot * 0.6 + s * self.across * foot * 0.5
            pts[heel] = a + self.down * foot * 0.3
        h, w = self.size
        for k, p in pts.items():
            if k in hidden or not (0 <= p[0] <= w - 1 and 0 <= p[1] <= h - 1):
                continue
            kp[k] = (p[0], p[1], 1.0)
        return kp


def _unit(angle_deg: float, down: np.ndarray, across: np.ndarray, side_sign: float) -> np.ndarray:
    """A direction ``angle_deg`` away from ``down``, positive = away from the body's midline."""
    a = np.deg2rad(angle_deg)
    return np.cos(a) * down + np.sin(a) * side_sign * across


def sample_body(rng: np.random.Generator, size: tuple[int, int]) -> Body:
    """Sample proportions, position, scale and an arm pose for one person in a ``size`` (H, W) frame."""
    h, w = size
    zoom = rng.uniform(0.85, 1.3)
    tilt = np.deg2rad(rng.uniform(-5, 5))
    down = np.array([np.sin(tilt), np.cos(tilt)])
    across = np.array([np.cos(tilt), -np.sin(tilt)])

    head_ay = 0.068 * h * zoom * rng.uniform(0.9, 1.1)
    head_ax = head_ay * rng.uniform(0.72, 0.84)
    neck_len = head_ay * rng.uniform(0.45, 0.75)
    shoulder_half = 0.21 * w * zoom * rng.uniform(0.85, 1.12) * (h / w * 0.75)
    torso = 0.36 * h * zoom * rng.uniform(0.9, 1.1)
    hip_half = shoulder_half * rng.uniform(0.72, 0.95)
    arm_r = shoulder_half * rng.uniform(0.2, 0.26)

    top_room = neck_len + 2.05 * head_ay + 0.02 * h
    neck_y = max(h * rng.uniform(0.19, 0.3) * zoom ** 0.5, top_room)
    neck = np.array([w / 2 + rng.uniform(-0.08, 0.08) * w, neck_y])

    yaw = rng.uniform(-0.15, 0.15) if rng.random() < 0.6 else 0.0
    shoulders = tuple(neck + s * across * shoulder_half * (1 - s * yaw) + down * shoulder_half * rng.uniform(0.0, 0.08)
                      for s in SIDES)
    neck = (shoulders[0] + shoulders[1]) / 2
    mid_hip = neck + down * torso
    hips = tuple(mid_hip + s * across * hip_half * 0.72 * (1 - s * yaw) for s in SIDES)

    upper, fore = torso * rng.uniform(0.52, 0.62), torso * rng.uniform(0.45, 0.53)
    pose = str(rng.choice(ARM_POSES, p=[0.35, 0.15, 0.15, 0.35]))
    elbows, wrists = [], []
    for side, s in enumerate(SIDES):
        this = pose
        if pose == "cross" and rng.random() < 0.35:  # often only one arm crosses
            this = "down"
        if this == "down":
            a = rng.uniform(4, 22)
            b = a + rng.uniform(-6, 14)
        elif this == "out":
            a = rng.uniform(25, 55)
            b = a + rng.uniform(-20, 25)
        elif this == "akimbo":
            a = rng.uniform(30, 50)
            b = -rng.uniform(35, 65)
        else:  # forearm across the torso
            a = rng.uniform(2, 20)
            b = -rng.uniform(65, 115)
        elbow = shoulders[side] + _unit(a, down, across, s) * upper
        while not (2 <= elbow[0] <= w - 3) and a > 1:  # keep the elbows in the frame
            a, b = a * 0.7, b - a * 0.3
            elbow = shoulders[side] + _unit(a, down, across, s) * upper
        elbows.append(elbow)
        wrists.append(elbow + _unit(b, down, across, s) * fore)

    thigh, shin = torso * rng.uniform(0.95, 1.1), torso * rng.uniform(0.95, 1.1)
    knees, ankles = [], []
    for side, s in enumerate(SIDES):
        knee = hips[side] + _unit(rng.uniform(-1, 7), down, across, s) * thigh
        knees.append(knee)
        ankles.append(knee + _unit(rng.uniform(-4, 3), down, across, s) * shin)

    chin = neck - down * neck_len
    head = chin - down * head_ay * 0.95
    return Body(
        size=size, down=down, across=across, neck=neck, shoulders=shoulders,
        elbows=tuple(elbows), wrists=tuple(wrists), hips=hips, knees=tuple(knees), ankles=tuple(ankles),
        head=head, head_axes=(head_ax, head_ay), chin=chin, shoulder_half=shoulder_half, hip_half=hip_half,
        arm_radius=arm_r, forearm_radius=arm_r * rng.uniform(0.72, 0.85), leg_radius=hip_half * rng.uniform(0.42, 0.5),
        neck_radius=head_ax * rng.uniform(0.5, 0.62), arm_pose=pose,
        arm_order=(0, 1) if rng.random() < 0.5 else (1, 0), yaw=float(yaw),
    )


# ----------------------------------------------------------------------------- drawing


def _fixed(points) -> np.ndarray:
    return np.round(np.asarray(points, np.float64).reshape(-1, 2) * _ONE).astype(np.int32)


def fill_polygon(mask: np.ndarray, points) -> np.ndarray:
    """Fill a convex or simple polygon (float pixel points) into a ``uint8`` mask in place."""
    cv2.fillPoly(mask, [_fixed(points)], 1, cv2.LINE_8, _SHIFT)
    return mask


def fill_circle(mask: np.ndarray, center, radius: float) -> np.ndarray:
    c = _fixed(center)[0]
    cv2.circle(mask, (int(c[0]), int(c[1])), max(1, int(round(radius * _ONE))), 1, -1, cv2.LINE_8, _SHIFT)
    return mask


def fill_ellipse(mask: np.ndarray, center, axes: tuple[float, float], angle_deg: float = 0.0) -> np.ndarray:
    c = _fixed(center)[0]
    ax = (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE))))
    cv2.ellipse(mask, (int(c[0]), int(c[1])), ax, angle_deg, 0, 360, 1, -1, cv2.LINE_8, _SHIFT)
    return mask


def fill_limb(mask: np.ndarray, a, b, ra: float, rb: float) -> np.ndarray:
    """A tapered capsule from ``a`` (radius ``ra``) to ``b`` (radius ``rb``), in place."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = b - a
    n = np.array([-d[1], d[0]]) / max(float(np.linalg.norm(d)), 1e-6)
    fill_polygon(mask, [a + n * ra, b + n * rb, b - n * rb, a - n * ra])
    fill_circle(mask, a, ra)
    fill_circle(mask, b, rb)
    return mask


def segment_distance(xy: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every pixel ``xy (H, W, 2)`` to the segment ``a``-``b``, and the
    position along it (0 at ``a``, 1 at ``b``, unclipped)."""
    d = b - a
    t = ((xy - a) @ d) / max(float(d @ d), 1e-9)
    closest = a + np.clip(t, 0, 1)[..., None] * d
    return np.linalg.norm(xy - closest, axis=-1), t
