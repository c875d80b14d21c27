"""Multi-region fan-out: a parent workflow starts one child workflow per
region and waits for all of them. Each child is a full workflow with its
own log, retries and lifetime; any worker may run it.

    python -m examples.multi_region [DATABASE_URL]
"""

from __future__ import annotations

import logging
import sys

import attrs

import zart

log = logging.getLogger(__name__)


@attrs.frozen
class Release:
    version: str
    regions: list[str]


@attrs.frozen
class Rollout:
    region: str
    version: str


@attrs.frozen
class RegionResult:
    region: str
    instances: int
    healthy: bool


@zart.step("push-image-{region}", retry="exponential(3, 1s)")
def push_image(region: str, version: str) -> str:
    log.info("pushing %s to %s", version, region)
    return f"{region}.registry.example/app:{version}"


@zart.step("roll-instances-{region}")
def roll_instances(region: str, image: str) -> int:
    log.info("rolling %s onto %s", image, region)
    return {"eu-west": 4, "us-east": 6}.get(region, 2)


@zart.step("smoke-test-{region}")
def smoke_test(region: str) -> bool:
    return True


@zart.durable("deploy-region", output=RegionResult)
def deploy_region(rollout: Rollout):
    image = yield push_image(rollout.region, rollout.version)
    instances = yield roll_instances(rollout.region, image)
    healthy = yield smoke_test(rollout.region)
    return RegionResult(rollout.region, instances, healthy)


@zart.durable("multi-region-deploy")
def multi_region_deploy(release: Release):
    handles = []
    for region in release.regions:
        # Calling a workflow builds a child command; each child needs a
        # name of its own in this execution, hence .named().
        child = deploy_region(Rollout(region, release.version)).named(f"deploy-{region}")
        handles.append((yield zart.schedule(child)))
    results = yield zart.wait_all(handles)  # RegionResult values (output=)
    return {
        "version": release.version,
        "instances": sum(r.instances for r in results),
        "healthy": all(r.healthy for r in results),
    }


registry = zart.TaskRegistry([multi_region_deploy, deploy_region])


def main(url: str = "sqlite:///zart-example.db") -> dict[str, object]:
    store = zart.connect(url)
    store.migrate()
    release = Release("2.4.1", ["eu-west", "us-east", "ap-south"])
    return zart.Client(store, registry).run(multi_region_deploy, release)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///zart-example.db"))
