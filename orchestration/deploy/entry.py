"""Code location of the deployment (`workspace.yaml`): the settings come from the environment
(NUMLAKE_HOME, NUMLAKE_LANDING, NUMLAKE_REGISTRY), as for `dagster dev`."""

from orchestration.deploy.definitions import build_deployment_definitions
from orchestration.settings import Settings

defs = build_deployment_definitions(Settings.resolve())
