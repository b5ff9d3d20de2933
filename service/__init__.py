"""codedeploy-gateway: AWS CodeDeploy deployment-instance status behind REST and GraphQL."""
