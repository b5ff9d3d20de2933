"""CodeDeploy's error codes that the gateway names, each spelled once.

They are CodeDeploy's contract, passed on to callers as ``code``: the gateway answers
with the same one when it refuses a request CodeDeploy would refuse, without a call.
"""

from typing import Final

APPLICATION_DOES_NOT_EXIST: Final = "ApplicationDoesNotExistException"
APPLICATION_NAME_REQUIRED: Final = "ApplicationNameRequiredException"
BATCH_LIMIT_EXCEEDED: Final = "BatchLimitExceededException"
DEPLOYMENT_DOES_NOT_EXIST: Final = "DeploymentDoesNotExistException"
DEPLOYMENT_GROUP_DOES_NOT_EXIST: Final = "DeploymentGroupDoesNotExistException"
DEPLOYMENT_GROUP_NAME_REQUIRED: Final = "DeploymentGroupNameRequiredException"
DEPLOYMENT_ID_REQUIRED: Final = "DeploymentIdRequiredException"
DEPLOYMENT_NOT_STARTED: Final = "DeploymentNotStartedException"
DEPLOYMENT_TARGET_DOES_NOT_EXIST: Final = "DeploymentTargetDoesNotExistException"
DEPLOYMENT_TARGET_ID_REQUIRED: Final = "DeploymentTargetIdRequiredException"
INSTANCE_DOES_NOT_EXIST: Final = "InstanceDoesNotExistException"
INSTANCE_ID_REQUIRED: Final = "InstanceIdRequiredException"
INVALID_APPLICATION_NAME: Final = "InvalidApplicationNameException"
INVALID_COMPUTE_PLATFORM: Final = "InvalidComputePlatformException"
INVALID_DEPLOYMENT_GROUP_NAME: Final = "InvalidDeploymentGroupNameException"
INVALID_DEPLOYMENT_ID: Final = "InvalidDeploymentIdException"
INVALID_DEPLOYMENT_TARGET_ID: Final = "InvalidDeploymentTargetIdException"
INVALID_INSTANCE_NAME: Final = "InvalidInstanceNameException"
INVALID_NEXT_TOKEN: Final = "InvalidNextTokenException"
INVALID_TIME_RANGE: Final = "InvalidTimeRangeException"
THROTTLING: Final = "ThrottlingException"
