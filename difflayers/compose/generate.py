"""generate-dockerfile, the compose kit's step: run the Dockerfile method on the
diff in output/ and say what it wrote.

OLD_IMAGE, NEW_IMAGE and RESTRICT_DIFF_TO_PATH, when set, must match the diff.
"""

from pathlib import Path

from difflayers.adapters.engine import Engine
from difflayers.comparing import difflog
from difflayers.methods.dockerfile import DOCKERFILE, REMOVAL_LIST
from difflayers.methods.generate import Expected, generate
from difflayers.settings import Environment


def run(output_dir: Path, env: Environment) -> None:
    expected = Expected(env.old_image, env.new_image, env.restrict_path)
    made = generate(Engine.connect(), output_dir, env.allow_config_drift, expected, byte_exact=env.byte_exact)
    for warning in made.warnings:
        print(f"Warning: {warning}", flush=True)
    print(difflog.summary(made.record, made.plan))
    removals = len(made.plan.removals)
    print(f"Wrote {output_dir}/: {DOCKERFILE}, {REMOVAL_LIST} ({removals} paths), {made.delta_note}")
