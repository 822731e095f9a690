// HeaderCheck.cs — compares TcpServerNative with tcpserver.h itself, so an export or constant
// added to (or changed in) the header fails a test until the binding mirrors it.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using TcpServerLib;

static class HeaderCheck
{
    // C scalar types of the header -> the .NET types the binding must use for them.
    static readonly Dictionary<string, Type> Scalars = new Dictionary<string, Type>
    {
        { "void", typeof(void) }, { "int32_t", typeof(int) }, { "uint32_t", typeof(uint) },
        { "int64_t", typeof(long) }, { "uint64_t", typeof(ulong) }, { "double", typeof(double) },
    };

    public static void Exports(string headerPath)
    {
        string header = Regex.Replace(File.ReadAllText(headerPath), @"/\*.*?\*/", " ", RegexOptions.Singleline);
        var declared = typeof(TcpServerNative).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.GetCustomAttributes(typeof(DllImportAttribute), false).Length > 0)
            .ToDictionary(m => m.Name);
        var problems = new List<string>();
        var exports = Regex.Matches(header, @"TS_API\s+([\w\s\*]+?)\s*TS_CALL\s+(\w+)\s*\(([^)]*)\)\s*;");
        foreach (Match export in exports)
        {
            string name = export.Groups[2].Value;
            MethodInfo method;
            if (!declared.TryGetValue(name, out method))
            {
                problems.Add(name + " is not declared");
                continue;
            }
            declared.Remove(name);
            var import = (DllImportAttribute)method.GetCustomAttributes(typeof(DllImportAttribute), false)[0];
            if (import.CallingConvention != CallingConvention.Winapi)
                problems.Add(name + ": calling convention " + import.CallingConvention + ", not Winapi");
            if (!Matches(export.Groups[1].Value, method.ReturnType, false))
                problems.Add(name + ": returns " + method.ReturnType.Name + " for C " + export.Groups[1].Value.Trim());
            string parameterText = Regex.Replace(export.Groups[3].Value, @"\s+", " ").Trim();
            var cParameters = parameterText == "void" ? new string[0] : parameterText.Split(',');
            var parameters = method.GetParameters();
            if (cParameters.Length != parameters.Length)
            {
                problems.Add(string.Format("{0}: {1} parameters, the header has {2}", name, parameters.Length, cParameters.Length));
                continue;
            }
            for (int i = 0; i < parameters.Length; i++)
            {
                string cType = Regex.Replace(cParameters[i].Trim(), @"\w+$", "").Trim();  // drop the parameter name
                if (!Matches(cType, parameters[i].ParameterType, true))
                    problems.Add(string.Format("{0}: parameter {1} is {2} for C {3}", name, parameters[i].Name,
                                               parameters[i].ParameterType.Name, cType));
            }
        }
        if (exports.Count < 40) problems.Add("only " + exports.Count + " exports parsed: has the header's format changed?");
        foreach (var extra in declared.Keys) problems.Add(extra + " is declared but not in the header");
        if (problems.Count > 0) throw new Exception(string.Join("; ", problems.ToArray()));
    }

    /// <summary>Whether a .NET type marshals the header's C type the way this binding intends.</summary>
    static bool Matches(string cType, Type type, bool parameter)
    {
        cType = Regex.Replace(cType, @"\bconst\b", "").Replace(" ", "");
        if (cType.StartsWith("TOn")) return type.Name == cType;              // callback: same-named delegate
        if (!cType.EndsWith("*"))
        {
            Type scalar;
            return Scalars.TryGetValue(cType, out scalar) && type == scalar;
        }
        string target = cType.TrimEnd('*');
        if (parameter && target == "char") return type == typeof(byte[]);    // UTF-8 text in
        if (parameter && Scalars.ContainsKey(target) && target != "void")     // an out value, or an
            return (type.IsByRef || type.IsArray) && type.GetElementType() == Scalars[target]; // array to fill
        return type == typeof(IntPtr);                                       // records, buffers, text out
    }

    public static void Constants(string headerPath)
    {
        var problems = new List<string>();
        var defines = Regex.Matches(File.ReadAllText(headerPath), @"^#define\s+((?:TS|TCPSERVER)_\w+)\s+(-?\d+)\b", RegexOptions.Multiline);
        foreach (Match define in defines)
        {
            string name = define.Groups[1].Value;
            var field = typeof(TcpServerNative).GetField(name, BindingFlags.Public | BindingFlags.Static);
            if (field == null || !field.IsLiteral) problems.Add(name + " is not declared");
            else if (Convert.ToInt64(field.GetValue(null)) != long.Parse(define.Groups[2].Value))
                problems.Add(string.Format("{0} is {1}, the header says {2}", name, field.GetValue(null), define.Groups[2].Value));
        }
        if (defines.Count < 60) problems.Add("only " + defines.Count + " constants parsed: has the header's format changed?");
        if (problems.Count > 0) throw new Exception(string.Join("; ", problems.ToArray()));
    }
}
