// NullableAttributes.cs — the nullable-analysis attributes of System.Diagnostics.CodeAnalysis,
// declared here (internal) for the target frameworks that lack them: Mono's mcs (which rejects
// `string?`) and netstandard2.0. The binding's sources mark what may be null with these
// attributes instead of `?`, so the same files build with mcs; TcpServerLib.csproj turns on
// <Nullable>annotations</Nullable>, so .NET SDK users see them. No code calls anything here.
#if !NETSTANDARD2_1_OR_GREATER && !NETCOREAPP3_0_OR_GREATER
namespace System.Diagnostics.CodeAnalysis
{
    /// <summary>The value may be null even where its type says it is not.</summary>
    [AttributeUsage(AttributeTargets.Field | AttributeTargets.Parameter | AttributeTargets.Property |
                    AttributeTargets.ReturnValue, Inherited = false)]
    internal sealed class MaybeNullAttribute : Attribute { }

    /// <summary>null is accepted even where the type says it is not.</summary>
    [AttributeUsage(AttributeTargets.Field | AttributeTargets.Parameter | AttributeTargets.Property,
                    Inherited = false)]
    internal sealed class AllowNullAttribute : Attribute { }
}
#endif
