"""The deploy gate: what CloudFormation itself refuses, at change-set creation or when it creates a
resource, checked before a user's first `sam deploy` finds it. cfn-lint, `sam validate --lint` and
checkov reason about a template in the abstract; this resolves it for each documented parameter
set, as CloudFormation does, and checks what comes out.

- `sections`: which intrinsic functions each part of a template accepts (Rules, Conditions,
  resource Condition, DependsOn, Type, Properties, Outputs, Parameters, Mappings, Metadata), the
  documented YAML short forms, and the template's limits.
- `parameters`: a parameter set's values, typed as CloudFormation types them, against each
  parameter's AllowedPattern, AllowedValues, MinValue, MaxValue, MinLength and MaxLength.
- `rules`: the Rules section evaluated for a set (rule functions only; a failed assertion names
  its rule and description).
- `resolve`: the template through samtranslator, its Conditions evaluated for a set, resources and
  outputs whose condition is false removed, every Fn::If taken, parameters put in; references to
  resources stay intrinsic functions.
- `references`: in a resolved template, every Ref, Fn::GetAtt, Fn::Sub variable and DependsOn
  names a resource that exists for that set.
- `schemas`: each resolved resource's properties against CloudFormation's resource schemas (the
  ones cfn-lint ships, through cfn-lint's own validator).
- `sets`: the documented parameter sets: the README's and samconfig.toml's, the demos', and one
  per feature the templates' parameters turn on.
- `check`: all of it over the three templates, each finding naming its template, set and place.
"""
